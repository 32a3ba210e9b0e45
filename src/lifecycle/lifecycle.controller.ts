import { Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../access/index.js';
import { SWEEP_NAMES, type SweepName } from '../config/index.js';
import { badRequest, type Job, JobRepository, readJsonBody } from '../tiering/index.js';
import { Database } from '../database/index.js';
import { type DeletionCertificate } from './purger.service.js';
import { DeletionRepository } from './deletion.repository.js';
import { HoldError, HoldsService } from './holds.service.js';
import { type LegalHold } from './hold.repository.js';
import { actorOf, parseAt, problem, type StrataRequest } from './http.js';
import { type Explanation, LifecycleError, LifecycleService } from './lifecycle.service.js';
import { type RecallOutcome, RecallService } from './recall.service.js';
import { Scheduler } from './scheduler.service.js';
import { type SimulationReport, SimulationService } from './simulation.service.js';
import { PolicyValidationError } from './policy-loader.js';
import { KeyService } from '../storage/index.js';
import { Sweeps } from './sweeps.service.js';

const UID = /^[0-9]+(\.[0-9]+)*$/;

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LifecycleError || error instanceof HoldError) {
      throw problem(error.status, error.message);
    }
    if (error instanceof PolicyValidationError) throw problem(400, error.message);
    throw error;
  }
}

function sweepName(name: string): SweepName {
  if (!SWEEP_NAMES.includes(name as SweepName)) {
    throw badRequest(`the sweep must be one of ${SWEEP_NAMES.join(', ')}`);
  }
  return name as SweepName;
}

async function objectBody(req: StrataRequest): Promise<Record<string, unknown>> {
  const body = (await readJsonBody(req)) ?? {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** Lifecycle: explain, legal holds, deletion, recall, simulation, sweeps and their schedules. */
@ApiTags('lifecycle')
@ApiBearerAuth()
@Controller('api')
export class LifecycleController {
  private readonly jobs: JobRepository;
  private readonly deletions = new DeletionRepository();

  constructor(
    private readonly lifecycle: LifecycleService,
    private readonly holds: HoldsService,
    private readonly recalls: RecallService,
    private readonly simulation: SimulationService,
    private readonly sweeps: Sweeps,
    private readonly scheduler: Scheduler,
    private readonly keys: KeyService,
    private readonly db: Database,
  ) {
    this.jobs = new JobRepository(db);
  }

  /**
   * The study's lifecycle: tiers, every rule that matched and why, the retention end date and the
   * rule that set it, the next move, holds, and the action due. `at=YYYY-MM-DD` answers for
   * another day.
   */
  @Roles('archivist', 'auditor')
  @Get('studies/:study/lifecycle')
  explain(@Param('study') study: string, @Query('at') at?: string): Promise<Explanation> {
    if (!UID.test(study)) throw badRequest('the Study Instance UID is not valid');
    return mapped(() => this.lifecycle.explain(study, parseAt(at)));
  }

  /**
   * Deletes a study in two steps: expired now (hidden from query and retrieve, kept), purged by
   * the purge sweep after the grace period. Body or query: `reason` (required). 409 when a legal
   * hold covers the study.
   */
  @Roles('archivist')
  @Delete('studies/:study')
  @HttpCode(202)
  @ApiBody({ schema: { example: { reason: 'sent to the wrong patient record' } } })
  async deleteStudy(
    @Param('study') study: string,
    @Req() req: StrataRequest,
    @Query('reason') queryReason?: string,
  ): Promise<{ studyInstanceUid: string; expiredAt: string; purgeNotBefore: string }> {
    if (!UID.test(study)) throw badRequest('the Study Instance UID is not valid');
    const body = await objectBody(req);
    const reason = body.reason ?? queryReason;
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw badRequest('a reason is required to delete a study');
    }
    const r = await mapped(() =>
      this.lifecycle.requestDeletion(study, reason.trim(), actorOf(req)),
    );
    return { studyInstanceUid: study, ...r };
  }

  /** Recalls a study to the hot tier ahead of use (a move job; 202). Body: optional `reason`. */
  @Roles('archivist')
  @Post('studies/:study/recall')
  @HttpCode(202)
  async recall(@Param('study') study: string, @Req() req: StrataRequest): Promise<RecallOutcome> {
    if (!UID.test(study)) throw badRequest('the Study Instance UID is not valid');
    const body = await objectBody(req);
    const reason = typeof body.reason === 'string' ? body.reason : 'requested';
    const r = await this.recalls.recallStudy(study, actorOf(req), reason);
    if (!r) throw problem(404, 'the study is not in the archive');
    return r;
  }

  /** A prefetch list: recalls every study of these patients to hot. Body: `{patientIds: [...]}`. */
  @Roles('archivist')
  @Post('prefetch')
  @HttpCode(202)
  @ApiBody({ schema: { example: { patientIds: ['PID-1', 'PID-2'], reason: 'clinic 2026-12-01' } } })
  async prefetch(@Req() req: StrataRequest): Promise<{ recalls: RecallOutcome[] }> {
    const body = await objectBody(req);
    const ids = body.patientIds;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      ids.length > 10_000 ||
      !ids.every((i) => typeof i === 'string' && i.length > 0 && i.length <= 64)
    ) {
      throw badRequest('patientIds must be a list of 1 to 10000 Patient IDs');
    }
    const reason = typeof body.reason === 'string' ? body.reason : 'prefetch';
    return { recalls: await this.recalls.prefetch(ids as string[], actorOf(req), reason) };
  }

  /** Places a legal hold on a patient or a study. */
  @Roles('archivist')
  @Post('holds')
  @HttpCode(201)
  @ApiBody({
    schema: {
      example: {
        patientId: 'PID-1',
        reason: 'litigation',
        caseReference: 'CASE-2026-17',
        custodian: 'legal@hospital.example',
        reviewDate: '2027-06-30',
      },
    },
  })
  async placeHold(@Req() req: StrataRequest): Promise<LegalHold> {
    const body = await readJsonBody(req);
    return mapped(() => this.holds.place(body, actorOf(req)));
  }

  /** Holds; `active=true|false`, `patientId=`, `studyInstanceUid=` filter. */
  @Roles('archivist', 'auditor')
  @Get('holds')
  listHolds(
    @Query('active') active?: string,
    @Query('patientId') patientId?: string,
    @Query('studyInstanceUid') studyInstanceUid?: string,
  ): Promise<LegalHold[]> {
    if (active !== undefined && active !== 'true' && active !== 'false') {
      throw badRequest('active must be true or false');
    }
    return this.holds.list({
      ...(active === undefined ? {} : { active: active === 'true' }),
      ...(patientId ? { patientId } : {}),
      ...(studyInstanceUid ? { studyInstanceUid } : {}),
    });
  }

  @Roles('archivist', 'auditor')
  @Get('holds/:id')
  async getHold(@Param('id') id: string): Promise<LegalHold> {
    const hold = await this.holds.get(id);
    if (!hold) throw problem(404, `no hold ${id}`);
    return hold;
  }

  /** Releases a hold. Body: `{reason}` (required). */
  @Roles('archivist')
  @Post('holds/:id/release')
  @HttpCode(200)
  @ApiBody({ schema: { example: { reason: 'case closed' } } })
  async releaseHold(@Param('id') id: string, @Req() req: StrataRequest): Promise<LegalHold> {
    const body = await objectBody(req);
    return mapped(() => this.holds.release(id, body.reason, actorOf(req)));
  }

  /** A deletion certificate: the signed document, its signature, and whether it verifies here. */
  @Roles('archivist', 'auditor')
  @Get('deletions/:id')
  async certificate(@Param('id') id: string): Promise<{
    id: string;
    certificate: DeletionCertificate;
    document: string;
    signature: string;
    signerFingerprint: string;
    verified: boolean;
  }> {
    const c = await this.deletions.certificate(this.db, id);
    if (!c) throw problem(404, `no deletion certificate ${id}`);
    return {
      id: c.id,
      certificate: JSON.parse(c.document) as DeletionCertificate,
      document: c.document,
      signature: c.signature,
      signerFingerprint: c.signerFingerprint,
      verified: await this.keys.verify(c.document, c.signature),
    };
  }

  /**
   * Month by month, what the current policies (and a proposed directory, `policiesDir`, on this
   * server) would do: studies and bytes per tier, expiries, purges, the holds that block them.
   * Changes nothing. Body: `{months: 24, policiesDir?: "/path"}`.
   */
  @Roles('archivist')
  @Post('policies/simulate')
  @HttpCode(200)
  @ApiBody({ schema: { example: { months: 24 } } })
  async simulate(@Req() req: StrataRequest): Promise<SimulationReport> {
    const body = await objectBody(req);
    const unknown = Object.keys(body).filter((k) => !['months', 'policiesDir'].includes(k));
    if (unknown.length > 0) throw badRequest(`unknown field(s): ${unknown.join(', ')}`);
    const months = body.months ?? 24;
    if (typeof months !== 'number' || !Number.isInteger(months) || months < 1 || months > 240) {
      throw badRequest('months must be an integer from 1 to 240');
    }
    if (body.policiesDir !== undefined && typeof body.policiesDir !== 'string') {
      throw badRequest('policiesDir must be a directory path');
    }
    return mapped(() => this.simulation.run(months, (body.policiesDir as string) ?? null));
  }

  /** Background jobs, newest first: `kind=`, `status=`, `limit=` (default 100). */
  @Roles('archivist')
  @Get('jobs')
  listJobs(
    @Query('kind') kind?: string,
    @Query('status') status?: string,
    @Query('limit') limit?: string,
  ): Promise<Job[]> {
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw badRequest('limit must be 1 to 1000');
    if (status && !['queued', 'running', 'paused', 'done', 'failed'].includes(status)) {
      throw badRequest('status must be queued, running, paused, done or failed');
    }
    return this.jobs.list({
      ...(kind ? { kind } : {}),
      ...(status ? { status: status as Job['status'] } : {}),
      limit: n,
    });
  }

  /** The sweeps' schedules: cron expression, window, paused, last tick and the node that ran it. */
  @Roles('archivist')
  @Get('schedules')
  schedules(): ReturnType<Scheduler['status']> {
    return this.scheduler.status();
  }

  /** Runs a sweep now (or goes on with its unfinished job): 202 with the job. */
  @Roles('archivist')
  @Post('sweeps/:name/run')
  @HttpCode(202)
  async runSweep(@Param('name') name: string, @Req() req: StrataRequest): Promise<Job> {
    const { job } = await this.sweeps.start(sweepName(name), actorOf(req).actor);
    return job;
  }

  /** Pauses a sweep's schedule and its running job (it stops at its next batch). */
  @Roles('archivist')
  @Post('schedules/:name/pause')
  @HttpCode(200)
  async pause(
    @Param('name') name: string,
    @Req() req: StrataRequest,
  ): Promise<ReturnType<Scheduler['status']>> {
    await this.scheduler.pause(sweepName(name), actorOf(req));
    return this.scheduler.status();
  }

  /** Resumes a paused schedule; a paused sweep goes on at the next tick or `run`. */
  @Roles('archivist')
  @Post('schedules/:name/resume')
  @HttpCode(200)
  async resume(
    @Param('name') name: string,
    @Req() req: StrataRequest,
  ): Promise<ReturnType<Scheduler['status']>> {
    await this.scheduler.resume(sweepName(name), actorOf(req));
    return this.scheduler.status();
  }
}
