import { Controller, Get, Header } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from './roles.decorator.js';
import { Registry } from '../metrics/index.js';

/**
 * Prometheus metrics (text exposition format); scrape with an admin token as a bearer token (no
 * role of issue 6 is an operations role, so the safe default holds).
 */
@ApiTags('operations')
@ApiBearerAuth()
@Roles('admin')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
