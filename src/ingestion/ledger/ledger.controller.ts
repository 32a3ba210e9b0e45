import { Controller, Get, HttpException, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../../access/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../../config/index.js';
import { Database } from '../../database/index.js';
import { type Ledger, LedgerRepository } from './ledger.repository.js';

const SOURCE = /^[A-Za-z0-9 ._:-]{1,64}$/;

function date(text: string | undefined, fallback: Date, name: string): Date {
  if (text === undefined) return fallback;
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    throw new HttpException(
      { message: `${name} must be a date (YYYY-MM-DD) or an ISO 8601 time` },
      400,
    );
  }
  return d;
}

/** The offload ledger: what a sending PACS can safely delete on its side, and the proof. */
@ApiTags('sources')
@ApiBearerAuth()
@Controller('api/sources')
export class LedgerController {
  private readonly repo = new LedgerRepository();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
  ) {}

  /**
   * Per source (a configured peer's `source`, or a calling AE title, or `stow:<token>`): instances
   * received in [from, to) with the time each was reported committed (null: never committed, do
   * not delete it yet), retrievals back by the source's AE titles, and refusals with the reason.
   * Defaults: the last 30 days; `limit` instances (default 10,000).
   */
  @Roles('archivist', 'auditor')
  @Get(':id/ledger')
  ledger(
    @Param('id') id: string,
    @Query('from') from?: string,
    @Query('to') to?: string,
    @Query('limit') limit?: string,
  ): Promise<Ledger> {
    if (!SOURCE.test(id)) throw new HttpException({ message: 'not a source name' }, 400);
    const now = new Date();
    const end = date(to, now, 'to');
    const start = date(from, new Date(end.getTime() - 30 * 86_400_000), 'from');
    if (start >= end) throw new HttpException({ message: 'from must be before to' }, 400);
    const n = limit === undefined ? 10_000 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 100_000) {
      throw new HttpException({ message: 'limit must be 1 to 100000' }, 400);
    }
    const aeTitles = Object.values(this.config.dicom.peers)
      .filter((p) => p.source === id)
      .map((p) => p.aeTitle);
    if (!aeTitles.includes(id)) aeTitles.push(id);
    return this.repo.ledger(this.db, { source: id, aeTitles, from: start, to: end, limit: n });
  }
}
