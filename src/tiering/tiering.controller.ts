import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../access/index.js';
import { type Request } from 'express';
import { TIER_NAMES, type TierName } from '../config/index.js';
import { Database } from '../database/index.js';
import { badRequest, notFound, readJsonBody } from './http.js';
import { type Job } from './job.repository.js';
import { TierMover } from './tier-mover.service.js';
import { FixityService } from './fixity.service.js';

const UID = /^[0-9]+(\.[0-9]+)*$/;

interface StrataRequest extends Request {
  strataUser?: { name: string; role?: string };
}

interface SeriesTiers {
  seriesInstanceUid: string;
  tiers: { tier: string; backend: string; objects: number; bytes: number }[];
}

@ApiTags('tiers')
@ApiBearerAuth()
@Controller('api')
export class TieringController {
  constructor(
    private readonly mover: TierMover,
    private readonly fixityService: FixityService,
    private readonly db: Database,
  ) {}

  /** Moves every object of a study to a tier, as a job (202; follow it at GET /api/jobs/{id}). */
  @Roles('archivist')
  @Post('studies/:study/move')
  @HttpCode(202)
  @ApiBody({ schema: { example: { tier: 'warm' } } })
  moveStudy(@Param('study') study: string, @Req() req: StrataRequest): Promise<Job> {
    return this.move(req, study, null);
  }

  /** The same for one series. */
  @Roles('archivist')
  @Post('studies/:study/series/:series/move')
  @HttpCode(202)
  @ApiBody({ schema: { example: { tier: 'cold' } } })
  moveSeries(
    @Param('study') study: string,
    @Param('series') series: string,
    @Req() req: StrataRequest,
  ): Promise<Job> {
    return this.move(req, study, series);
  }

  /**
   * Starts a fixity check (202; follow it at GET /api/jobs/{id}, whose `result` counts what was
   * checked, missing, corrupt and repaired). Body (all optional): `tier`, `samplePercent` (1-100),
   * `includeCold` (reading cold copies may need restores and cost retrieval fees), `deep` (read
   * and decrypt every copy, also those an S3 ETag confirmed at write lets a HEAD request check).
   */
  @Roles('archivist')
  @Post('fixity')
  @HttpCode(202)
  @ApiBody({
    schema: { example: { tier: 'hot', samplePercent: 10, includeCold: false, deep: false } },
  })
  async fixity(@Req() req: StrataRequest): Promise<Job> {
    const body = ((await readJsonBody(req)) ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body))
      throw badRequest('the body must be a JSON object');
    const unknown = Object.keys(body).filter(
      (k) => !['tier', 'samplePercent', 'includeCold', 'deep'].includes(k),
    );
    if (unknown.length > 0) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
    const { tier = null, samplePercent = 100, includeCold = false, deep = false } = body;
    if (tier !== null && !TIER_NAMES.includes(tier as TierName)) {
      throw badRequest(`tier must be one of ${TIER_NAMES.join(', ')}`);
    }
    if (typeof samplePercent !== 'number' || !(samplePercent >= 1 && samplePercent <= 100)) {
      throw badRequest('samplePercent must be a number from 1 to 100');
    }
    if (typeof includeCold !== 'boolean') throw badRequest('includeCold must be true or false');
    if (typeof deep !== 'boolean') throw badRequest('deep must be true or false');
    return this.fixityService.request({
      tier: tier as TierName | null,
      samplePercent,
      includeCold,
      deep,
      actor: req.strataUser?.name ?? 'unknown',
      actorHost: req.ip ?? null,
      role: req.strataUser?.role ?? null,
    });
  }

  /** A background job: status, progress (objects and bytes done of the total), error. */
  @Roles('archivist')
  @Get('jobs/:id')
  async job(@Param('id') id: string): Promise<Job> {
    const job = await this.mover.getJob(id); // any kind of job
    if (!job) throw notFound('no such job');
    return job;
  }

  /** Where a study's objects are: per series, the tiers and backends, objects and bytes. */
  @Roles('archivist', 'auditor')
  @Get('studies/:study')
  async study(@Param('study') study: string): Promise<{
    studyInstanceUid: string;
    lastAccessedAt: string | null;
    series: SeriesTiers[];
  }> {
    if (!UID.test(study)) throw badRequest('the Study Instance UID is not valid');
    const [row] = await this.db.query<{ last_accessed_at: Date | null }>(
      'SELECT last_accessed_at FROM studies WHERE study_instance_uid = $1',
      [study],
    );
    if (!row) throw notFound('the study is not in the archive');
    const rows = await this.db.query<{
      series_instance_uid: string;
      tier: string;
      backend: string;
      objects: number;
      bytes: string;
    }>(
      `SELECT se.series_instance_uid, l.tier, l.backend, count(DISTINCT l.id)::int AS objects,
              coalesce(sum(l.stored_size), 0)::text AS bytes
         FROM studies st
         JOIN series se ON se.study_fk = st.id
         JOIN instances i ON i.series_fk = se.id
         JOIN instance_versions v ON v.instance_fk = i.id
         JOIN locations l ON l.blob_fk = v.blob_fk
        WHERE st.study_instance_uid = $1
        GROUP BY se.series_instance_uid, l.tier, l.backend
        ORDER BY se.series_instance_uid, l.tier`,
      [study],
    );
    const series = new Map<string, SeriesTiers>();
    for (const r of rows) {
      const s = series.get(r.series_instance_uid) ?? {
        seriesInstanceUid: r.series_instance_uid,
        tiers: [],
      };
      s.tiers.push({
        tier: r.tier,
        backend: r.backend,
        objects: r.objects,
        bytes: Number(r.bytes),
      });
      series.set(r.series_instance_uid, s);
    }
    return {
      studyInstanceUid: study,
      lastAccessedAt: row.last_accessed_at?.toISOString() ?? null,
      series: [...series.values()],
    };
  }

  private async move(req: StrataRequest, study: string, series: string | null): Promise<Job> {
    if (!UID.test(study) || (series !== null && !UID.test(series))) {
      throw badRequest('the UIDs in the path are not valid');
    }
    const body = await readJsonBody(req);
    const tier = (body as { tier?: unknown } | null)?.tier;
    if (typeof tier !== 'string' || !TIER_NAMES.includes(tier as TierName)) {
      throw badRequest(`the body must be {"tier": one of ${TIER_NAMES.join(', ')}}`);
    }
    const [found] = await this.db.query(
      `SELECT 1 FROM studies st ${series ? 'JOIN series se ON se.study_fk = st.id AND se.series_instance_uid = $2' : ''}
        WHERE st.study_instance_uid = $1`,
      series ? [study, series] : [study],
    );
    if (!found) throw notFound(`the ${series ? 'series' : 'study'} is not in the archive`);
    return this.mover.request({
      studyInstanceUid: study,
      seriesInstanceUid: series,
      tier: tier as TierName,
      actor: req.strataUser?.name ?? 'unknown',
      actorHost: req.ip ?? null,
      role: req.strataUser?.role ?? null,
    });
  }
}
