import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AuditService, type AuditRow } from '../audit/index.js';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** The audit trail in order, with its hash chain; filter by patient, study or action. */
  @Get()
  @ApiQuery({ name: 'patientId', required: false })
  @ApiQuery({ name: 'studyInstanceUid', required: false })
  @ApiQuery({ name: 'action', required: false })
  @ApiQuery({
    name: 'after',
    required: false,
    description: 'return rows with seq greater than this',
  })
  @ApiQuery({ name: 'limit', required: false, description: '1-1000, default 100' })
  async list(
    @Query('patientId') patientId?: string,
    @Query('studyInstanceUid') studyInstanceUid?: string,
    @Query('action') action?: string,
    @Query('after') after?: string,
    @Query('limit') limit?: string,
  ): Promise<{ events: AuditRow[]; next: number | null }> {
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new BadRequestException('limit must be an integer from 1 to 1000');
    const afterSeq = after === undefined ? undefined : Number(after);
    if (afterSeq !== undefined && (!Number.isInteger(afterSeq) || afterSeq < 0)) {
      throw new BadRequestException('after must be a non-negative integer');
    }
    const events = await this.audit.list({
      patientId,
      studyInstanceUid,
      action,
      afterSeq,
      limit: n,
    });
    return { events, next: events.length === n ? events[events.length - 1]!.seq : null };
  }
}
