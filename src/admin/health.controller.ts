import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import { type Response } from 'express';
import { Public } from './public.decorator.js';
import { type Readiness, ReadinessService } from './readiness.service.js';

/**
 * For load balancers and orchestrators, without a token: /health says the process answers
 * (liveness: restart it if not), /ready whether it should be sent work (readiness: 503 while the
 * database, the schema, a storage backend or the DICOM listener is not right, or while stopping).
 */
@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessService) {}

  @Public()
  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Public()
  @Get('ready')
  @ApiResponse({ status: 200, description: 'ready: every check passed' })
  @ApiResponse({ status: 503, description: 'not ready: the failed checks say why' })
  async ready(@Res({ passthrough: true }) res: Response): Promise<{
    status: 'ready' | 'not ready';
    checks: Pick<Readiness['checks'][number], 'name' | 'ok' | 'ms'>[];
  }> {
    const { ready, checks } = await this.readiness.check();
    res.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    res.setHeader('Cache-Control', 'no-store');
    // Which check failed, not why: the reasons (database and storage errors, host names, ports)
    // are for the log (warn, when a check changes state), not for anyone who can reach the port.
    return {
      status: ready ? 'ready' : 'not ready',
      checks: checks.map(({ name, ok, ms }) => ({ name, ok, ms })),
    };
  }
}
