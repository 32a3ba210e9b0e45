import { Controller, Delete, Get, HttpCode, HttpException, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../access/index.js';
import { type Request } from 'express';
import {
  type KeyChangeActor,
  KeyRingError,
  KeyService,
  UnusableKeyError,
} from '../storage/index.js';
import { badRequest, type Job, readJsonBody } from '../tiering/index.js';
import { KeyJobs } from './key-jobs.service.js';

interface StrataRequest extends Request {
  strataUser?: { name: string; role?: string };
}

interface KeyRingStatus {
  /** Studies that have a session key. */
  studies: number;
  recipients: {
    fingerprint: string;
    role: string;
    status: string;
    /** The archive key new study keys are made under (the newest active archive key). */
    current: boolean;
    /** Whether this node holds the private key. */
    heldHere: boolean;
    /** Studies whose session key is wrapped for this key. */
    studies: number;
    createdAt: string;
    retiredAt: string | null;
  }[];
  /** The latest re-wrap job (rotation, new escrow key): follow it at GET /api/jobs/{id}. */
  rewrapJob: Job | null;
}

const by = (req: StrataRequest): KeyChangeActor => ({
  actor: req.strataUser?.name ?? 'unknown',
  actorHost: req.ip ?? null,
  role: req.strataUser?.role ?? null,
});

/** A refused key-ring change is a conflict with the ring's state (409); the message says why. */
async function refusedAsConflict<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof KeyRingError) throw new HttpException({ message: error.message }, 409);
    throw error;
  }
}

/** The same operations as `strata keys` (usable while the server holds the embedded database). */
@ApiTags('keys')
@ApiBearerAuth()
// Key operations are the admin's alone: a key can make every study unreadable.
@Roles('admin')
@Controller('api/keys')
export class KeysController {
  constructor(
    private readonly keys: KeyService,
    private readonly jobs: KeyJobs,
  ) {}

  /** The key ring: archive and escrow keys, how many studies each opens, and the re-wrap status. */
  @Get()
  async status(): Promise<KeyRingStatus> {
    const [ring, rewrapJob] = await Promise.all([this.keys.ring.list(), this.jobs.latestJob()]);
    return {
      studies: ring.studies,
      recipients: ring.recipients.map((r) => ({
        fingerprint: r.fingerprint,
        role: r.role,
        status: r.status,
        current: r.current,
        heldHere: r.heldHere,
        studies: r.studies,
        createdAt: r.createdAt,
        retiredAt: r.retiredAt,
      })),
      rewrapJob,
    };
  }

  /** A new archive key and the re-wrap job for it (202); an interrupted re-wrap is resumed instead. */
  @Post('rotate')
  @HttpCode(202)
  async rotate(
    @Req() req: StrataRequest,
  ): Promise<{ job: Job; fingerprint: string | null; resumed: boolean }> {
    return this.jobs.rotate(by(req));
  }

  /** Adds an escrow key, body `{"publicKey": "<armored key>"}`, and re-wraps every study for it (202). */
  @Post('recipients')
  @HttpCode(202)
  @ApiBody({ schema: { example: { publicKey: '-----BEGIN PGP PUBLIC KEY BLOCK-----...' } } })
  async addRecipient(
    @Req() req: StrataRequest,
  ): Promise<{ job: Job; fingerprint: string; added: boolean }> {
    const body = (await readJsonBody(req)) as { publicKey?: unknown } | null;
    if (typeof body?.publicKey !== 'string') {
      throw badRequest('the body must be {"publicKey": "<armored OpenPGP public key>"}');
    }
    const armored = body.publicKey;
    const r = await refusedAsConflict(async () => {
      try {
        return await this.jobs.addRecipient(armored, 'api', by(req));
      } catch (error) {
        if (error instanceof UnusableKeyError) throw badRequest(error.message);
        throw error;
      }
    });
    return { job: r.job, fingerprint: r.fingerprint, added: r.added };
  }

  /** Retires a key (fingerprint or 16-hex key ID): its wrapped session keys are deleted. */
  @Delete(':keyId')
  async retire(
    @Param('keyId') keyId: string,
    @Req() req: StrataRequest,
  ): Promise<{ fingerprint: string; studyKeysRemoved: number }> {
    return refusedAsConflict(() => this.jobs.retire(keyId, by(req)));
  }
}
