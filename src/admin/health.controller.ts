import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from './public.decorator.js';

@ApiTags('health')
@Controller()
export class HealthController {
  /** Liveness: the process answers. (Readiness checks come with the operations issue.) */
  @Public()
  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
