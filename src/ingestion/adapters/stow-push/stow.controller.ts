import { Controller, HttpException, Inject, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiTags } from '@nestjs/swagger';
import { type AuthenticatedUser, Roles } from '../../../access/index.js';
import Dicer from 'dicer';
import { type Request, type Response } from 'express';
import { type Readable } from 'node:stream';
import { STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import { isValidUid } from '../../../dicom/index.js';
import { IngestionService } from '../../ingestion.service.js';
import { checkStowContentType } from './content-type.js';
import { StowPushAdapter } from './stow-push.adapter.js';
import { StowResponse } from './stow-response.js';

function problem(status: number, detail: string): HttpException {
  return new HttpException({ message: detail }, status);
}

interface RequestWithUser extends Request {
  strataUser?: AuthenticatedUser;
}

/** STOW-RS (PS3.18 10.5): each application/dicom part streams into the one ingestion pipeline. */
@ApiTags('dicomweb')
@Roles('pacs')
@ApiBearerAuth()
@Controller('dicomweb')
export class StowController {
  private readonly logger = new Logger('STOW');

  constructor(
    private readonly ingestion: IngestionService,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly adapter: StowPushAdapter,
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
    const actor = req.strataUser?.name ?? 'unknown';
    // A pacs token is bound to its source (created so that it agrees with a stow-push source
    // naming the token); other tokens (admin) go by the stow-push sources' `token` keys.
    const source = req.strataUser?.source ?? this.adapter.sourceFor(actor);
    const baseUrl = `${req.protocol}://${req.get('host')}/dicomweb`;
    const response = new StowResponse(baseUrl);
    const parser = new Dicer({ boundary: ct.value.boundary, maxHeaderPairs: 100 });
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
