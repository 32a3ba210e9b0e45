import { Controller, HttpException, Inject, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiTags } from '@nestjs/swagger';
import { type AuthenticatedUser, Roles } from '../../../access/index.js';
import Dicer from 'dicer';
import { type Request, type Response } from 'express';
import { type Readable } from 'node:stream';
import { STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import { isValidUid } from '../../../dicom/index.js';
import { InFlightBudget } from '../../in-flight-budget.js';
import { IngestionService } from '../../ingestion.service.js';
import { type OverloadLimit, OverloadRefusals } from '../../overload-refusals.js';
import { checkStowContentType } from './content-type.js';
import { StowPushAdapter } from './stow-push.adapter.js';
import { StowResponse } from './stow-response.js';

function problem(status: number, detail: string): HttpException {
  return new HttpException({ message: detail }, status);
}

interface RequestWithUser extends Request {
  strataUser?: AuthenticatedUser;
}

/**
 * A refused request's body up to this size is read and dropped, so the connection stays open
 * for the client's retry; a larger (or unsized) one is not worth reading: the connection closes.
 */
const DRAIN_REFUSED_BODY_BYTES = 8 * 1024 * 1024;

/** STOW-RS (PS3.18 10.5): each application/dicom part streams into the one ingestion pipeline. */
@ApiTags('dicomweb')
@Roles('pacs')
@ApiBearerAuth()
@Controller('dicomweb')
export class StowController {
  private readonly logger = new Logger('STOW');
  /** STOW-RS requests being received or answered (limits.maxStowRequests). */
  private active = 0;

  constructor(
    private readonly ingestion: IngestionService,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly adapter: StowPushAdapter,
    private readonly inFlight: InFlightBudget,
    private readonly overload: OverloadRefusals,
  ) {}

  @Post('studies')
  @ApiConsumes('multipart/related')
  storeAny(@Req() req: RequestWithUser, @Res() res: Response): Promise<void> {
    return this.store(req, res, undefined);
  }

  @Post('studies/:study')
  @ApiConsumes('multipart/related')
  storeInStudy(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
  ): Promise<void> {
    if (!isValidUid(study))
      throw problem(400, 'the StudyInstanceUID in the URL is not a valid UID');
    return this.store(req, res, study);
  }

  private async store(
    req: RequestWithUser,
    res: Response,
    study: string | undefined,
  ): Promise<void> {
    const ct = checkStowContentType(req.headers['content-type']);
    if (!ct.ok) throw problem(ct.status, ct.detail);
    const max = this.config.http.maxStowBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > max) {
      res.setHeader('Connection', 'close');
      throw problem(413, `the request body (${declared} bytes) exceeds the limit of ${max} bytes`);
    }
    // Admission, before a byte of the body is read: the check and the count in one tick.
    const busy = this.overloaded();
    if (busy) {
      await this.overload.refused({
        protocol: 'STOW-RS',
        limit: busy.limit,
        actor: req.strataUser?.name ?? 'unknown',
        actorHost: req.ip ?? null,
        reason: busy.reason,
      });
      res.setHeader('Retry-After', String(this.config.limits.retryAfterSeconds));
      if (!(declared <= DRAIN_REFUSED_BODY_BYTES)) res.setHeader('Connection', 'close');
      throw problem(
        503,
        `the archive is busy (${busy.reason}): retry after ${this.config.limits.retryAfterSeconds} s`,
      );
    }
    this.active++;
    try {
      await this.receive(req, res, study, ct.value.boundary, max);
    } finally {
      this.active--;
    }
  }

  /**
   * Whether limits refuse a new request: too many in progress, or the in-flight budget (all
   * adapters) spent. Either clears as the requests in progress end: 503 with Retry-After.
   */
  private overloaded(): { limit: OverloadLimit; reason: string } | null {
    const l = this.config.limits;
    if (this.active >= l.maxStowRequests) {
      return {
        limit: 'stow-requests',
        reason: `${this.active} STOW-RS requests in progress (limits.maxStowRequests: ${l.maxStowRequests})`,
      };
    }
    if (this.inFlight.exhausted) {
      return { limit: 'in-flight-bytes', reason: this.inFlight.describe() };
    }
    return null;
  }

  private async receive(
    req: RequestWithUser,
    res: Response,
    study: string | undefined,
    boundary: string,
    max: number,
  ): Promise<void> {
    const actor = req.strataUser?.name ?? 'unknown';
    // A pacs token is bound to its source (created so that it agrees with a stow-push source
    // naming the token); other tokens (admin) go by the stow-push sources' `token` keys.
    const source = req.strataUser?.source ?? this.adapter.sourceFor(actor);
    const baseUrl = `${req.protocol}://${req.get('host')}/dicomweb`;
    const response = new StowResponse(baseUrl);
    const parser = new Dicer({ boundary, maxHeaderPairs: 100 });
    let received = 0;
    let tooLarge = false;
    let parseError: Error | null = null;
    let chain: Promise<void> = Promise.resolve();
    const openParts = new Set<Readable>();

    parser.on(
      'part',
      (
        part: Readable & { on(event: 'header', cb: (h: Record<string, string[]>) => void): void },
      ) => {
        let partType: string | null = null;
        openParts.add(part);
        // A cut part's error reaches its ingest (which refuses it); parts not yet started need this.
        part.on('error', () => undefined);
        part.on('end', () => openParts.delete(part));
        part.on('close', () => openParts.delete(part));
        part.on('header', (headers) => {
          partType = (headers['content-type']?.[0] ?? 'application/dicom')
            .split(';')[0]!
            .trim()
            .toLowerCase();
        });
        // Parts are ingested one at a time, in order; backpressure holds the request meanwhile.
        chain = chain.then(async () => {
          if (partType !== null && partType !== 'application/dicom') {
            part.resume();
            response.add({
              ok: false,
              reason: 'malformed',
              message: `part media type ${partType} is not application/dicom`,
            });
            return;
          }
          const result = await this.ingestion.ingest({
            adapter: this.adapter.id,
            source,
            actor,
            callingAet: null,
            remoteHost: req.ip ?? null,
            framing: 'part10',
            data: part,
            expected: study ? { studyInstanceUid: study } : undefined,
          });
          this.adapter.count(source, result);
          response.add(result);
        });
      },
    );

    await new Promise<void>((resolve) => {
      const finish = () => resolve();
      parser.on('finish', finish);
      parser.on('error', (e: Error) => {
        parseError = e;
        resolve();
      });
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > max && !tooLarge) {
          tooLarge = true;
          req.unpipe(parser);
          // The part being received is cut: its ingest fails and stores nothing.
          for (const part of openParts) part.destroy(new Error('request body too large: aborted'));
          parser.destroy?.(new Error('request body too large'));
          req.resume();
          resolve();
        }
      });
      req.on('aborted', () => {
        for (const part of openParts) part.destroy(new Error('client aborted the request'));
        parser.destroy?.(new Error('client aborted the request'));
        resolve();
      });
      req.pipe(parser);
    });
    await chain.catch((e: unknown) => this.logger.error(`STOW part failed: ${String(e)}`));

    if (tooLarge) {
      res.setHeader('Connection', 'close');
      throw problem(413, `the request body exceeds the limit of ${max} bytes`);
    }
    if (response.count === 0) {
      throw problem(
        400,
        parseError
          ? `the multipart body could not be parsed: ${(parseError as Error).message}`
          : 'the multipart body holds no parts',
      );
    }
    if (parseError) {
      response.add({
        ok: false,
        reason: 'malformed',
        message: 'the multipart body is malformed after this point',
      });
    }
    res
      .status(response.status())
      .type('application/dicom+json')
      .send(JSON.stringify(response.body(study)));
  }
}
