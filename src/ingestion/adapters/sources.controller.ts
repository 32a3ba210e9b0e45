import { Controller, Get, HttpCode, HttpException, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../../access/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../../config/index.js';
import { AdapterRegistry } from './adapter-registry.js';
import { PullAdapter } from './pull/pull-adapter.js';
import { sourcesView, type SourcesView } from './sources-view.js';

/** The sources and their adapters (the offload ledger, GET api/sources/{id}/ledger, is beside). */
@ApiTags('sources')
@ApiBearerAuth()
@Controller('api/sources')
export class SourcesController {
  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly registry: AdapterRegistry,
  ) {}

  /**
   * Every configured source and every source seen since this node started, with its adapter
   * (id, kind, running, health) and its counters since start (instances received, stored, new
   * versions, duplicates, refused, bytes, last activity); then every adapter with its totals.
   */
  @Roles('archivist')
  @Get()
  async list(): Promise<SourcesView> {
    const adapters = await Promise.all(
      this.registry.list().map(async (adapter) => ({
        adapter,
        status: adapter.status(),
        health: await adapter.health(),
      })),
    );
    return sourcesView(this.config.sources, adapters);
  }

  /**
   * Starts a run of a pull source now (202), from its checkpoint; follow it at GET /api/sources
   * (its detail and counters). 409 when it is being pulled already, here or on another node.
   */
  @Roles('archivist')
  @Post(':id/pull')
  @HttpCode(202)
  pull(@Param('id') id: string): { source: string; started: true } {
    const source = this.config.sources[id];
    const adapter = this.registry.list().find((a) => a.id === source?.adapter);
    if (!source || !(adapter instanceof PullAdapter)) {
      throw new HttpException({ message: `${id} is not a configured pull source` }, 404);
    }
    if (adapter.isRunning(id)) {
      throw new HttpException({ message: `${id} is being pulled already` }, 409);
    }
    void adapter.run(id).catch(() => undefined);
    return { source: id, started: true };
  }
}
