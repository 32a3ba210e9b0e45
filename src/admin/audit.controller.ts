import { once } from 'node:events';
import { BadRequestException, Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { type Request, type Response } from 'express';
import { type AuthenticatedUser, Roles } from '../access/index.js';
import {
  type AuditEvent,
  type AuditQuery,
  AuditQueryError,
  AuditService,
  BundleExporter,
  listingWriter,
  parseAuditQuery,
  STREAMED_FORMATS,
  TrailVerifier,
  type TrailVerification,
} from '../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';

interface AuditRequest extends Request {
  strataUser?: AuthenticatedUser;
}

/** Who read the trail: reading it is itself audited (DICOM "Audit Log Used"). */
function reader(req: AuditRequest): Pick<AuditEvent, 'actor' | 'actorHost' | 'role'> {
  return {
    actor: req.strataUser?.name ?? 'unknown',
    actorHost: req.ip ?? null,
    role: req.strataUser?.role ?? null,
  };
}

function badRequest(error: unknown): never {
  if (error instanceof AuditQueryError) throw new BadRequestException(error.message);
  throw error;
}

/**
 * Writes text pieces to the response as they come, waiting while the client is slow and
 * stopping if it goes away. Returns false when the client left before the end.
 */
async function stream(res: Response, pieces: AsyncIterable<string>): Promise<boolean> {
  for await (const piece of pieces) {
    if (res.destroyed) return false;
    if (piece.length > 0 && !res.write(piece)) {
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
  }
  if (res.destroyed) return false;
  res.end();
  return true;
}

/**
 * The audit trail for auditors: search (one call answers "who accessed patient X's images in
 * 2025": ?patientId=X&from=2025-01-01&to=2026-01-01), in JSON pages, CSV or NDJSON exports, DICOM
 * PS3.15 audit messages or FHIR AuditEvents; verification of the hash chain and its signed
 * checkpoints; and offline-verifiable bundles. Read-only; each read is itself audited.
 */
@ApiTags('audit')
@ApiBearerAuth()
@Roles('auditor')
@Controller('api/audit')
export class AuditController {
  constructor(
    private readonly audit: AuditService,
    private readonly verifier: TrailVerifier,
    private readonly exporter: BundleExporter,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
  ) {}

  /** Events in chain order; every filter given must hold. */
  @Get()
  @ApiQuery({ name: 'patientId', required: false })
  @ApiQuery({ name: 'studyInstanceUid', required: false })
  @ApiQuery({ name: 'actor', required: false, description: 'user, token name or calling AE title' })
  @ApiQuery({ name: 'role', required: false })
  @ApiQuery({
    name: 'action',
    required: false,
    description: 'one action, or several comma-separated',
  })
  @ApiQuery({ name: 'outcome', required: false, enum: ['success', 'warning', 'failure'] })
  @ApiQuery({ name: 'from', required: false, description: 'ISO 8601 date or date-time, inclusive' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO 8601 date or date-time, exclusive' })
  @ApiQuery({
    name: 'after',
    required: false,
    description: "continue after this seq (a page's next)",
  })
  @ApiQuery({
    name: 'limit',
    required: false,
    description: 'rows per page, 1-1000, default 100 (csv and ndjson: all rows unless given)',
  })
  @ApiQuery({
    name: 'format',
    required: false,
    enum: ['json', 'csv', 'ndjson', 'dicom', 'fhir'],
    description:
      'json: {events, next}; csv and ndjson: every matching row, streamed; dicom: PS3.15 AuditMessage ' +
      'elements in an AuditMessages list; fhir: a searchset Bundle of AuditEvent resources',
  })
  async list(
    @Query() params: Record<string, unknown>,
    @Req() req: AuditRequest,
    @Res() res: Response,
  ): Promise<void> {
    let query: AuditQuery;
    try {
      query = parseAuditQuery(params);
    } catch (error) {
      badRequest(error);
    }
    const { filter, format, limit } = query;
    const nextUrl = (after: number) => {
      const url = new URL(req.originalUrl, `${req.protocol}://${req.get('host') ?? 'localhost'}`);
      url.searchParams.set('after', String(after));
      return url.pathname + url.search;
    };
    const writer = listingWriter(format, this.config, nextUrl);
    let rows = 0;
    if (STREAMED_FORMATS.includes(format)) {
      res.status(200).type(writer.contentType);
      res.setHeader('Content-Disposition', `attachment; filename="audit-events.${format}"`);
      const audit = this.audit;
      const complete = await stream(
        res,
        (async function* () {
          yield writer.open(null);
          for await (const batch of audit.stream(filter, limit)) {
            yield writer.rows(batch, rows === 0);
            rows += batch.length;
          }
          yield writer.close(null);
        })(),
      );
      await this.recordRead(req, 'audit.queried', filter, {
        format,
        rows,
        ...(complete ? {} : { interrupted: true }),
      });
      return;
    }
    const page = await this.audit.list({ ...filter, limit: limit! });
    const next = page.length === limit ? page[page.length - 1]!.seq : null;
    const body =
      writer.open(next) + (page.length > 0 ? writer.rows(page, true) : '') + writer.close(next);
    await this.recordRead(req, 'audit.queried', filter, { format, rows: page.length });
    if (next !== null) res.setHeader('Link', `<${nextUrl(next)}>; rel="next"`);
    res.status(200).type(writer.contentType).send(body);
  }

  /**
   * Checks the whole trail: each row re-hashed from its stored columns, the chain links, and every
   * signed checkpoint (signature and position). `valid` false lists what was missing, added,
   * altered or reordered, by position (seq), and the first broken link.
   */
  @Get('verify')
  @ApiOkResponse({ description: 'the verification report ("valid": true or false)' })
  async verify(@Req() req: AuditRequest): Promise<TrailVerification> {
    const result = await this.verifier.verify();
    await this.audit.recordAlone({
      ...reader(req),
      action: 'audit.verified',
      outcome: result.valid ? 'success' : 'warning',
      detail: {
        valid: result.valid,
        rowsChecked: result.rowsChecked,
        lastSeq: result.lastSeq,
        problems: result.problems.length,
        ...(result.firstBrokenLink ? { firstBrokenLink: result.firstBrokenLink.seq } : {}),
      },
    });
    return result;
  }

  /**
   * An offline-verifiable bundle (JSON) of the events in [from, to): the rows, the link before
   * the first, the signed checkpoints up to the first one covering the last row (signed now if
   * none does yet), the rows up to it, and the archive's public key. Check it with
   * `strata audit verify --bundle FILE`.
   */
  @Get('export')
  @ApiQuery({ name: 'from', required: false, description: 'ISO 8601 date or date-time, inclusive' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO 8601 date or date-time, exclusive' })
  async export(
    @Query() params: Record<string, unknown>,
    @Req() req: AuditRequest,
    @Res() res: Response,
  ): Promise<void> {
    const unknown = Object.keys(params).filter((k) => k !== 'from' && k !== 'to');
    if (unknown.length > 0) {
      throw new BadRequestException(`unknown parameter '${unknown[0]}' (known: from, to)`);
    }
    let filter: AuditQuery['filter'];
    try {
      filter = parseAuditQuery({ from: params.from, to: params.to }).filter;
    } catch (error) {
      badRequest(error);
    }
    const from = filter.from ?? null;
    const to = filter.to ?? null;
    const name = `audit-bundle-${(from ?? 'start').slice(0, 10)}-${(to ?? 'now').slice(0, 10)}.json`;
    const counts = { rows: 0, continuation: 0 };
    const pieces = this.exporter.export(from, to, new Date(), counts);
    // The first piece (range, checkpoints, keys) before the status: its errors are still problems.
    const first = await pieces.next();
    res.status(200).type('application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="${name}"`);
    const complete = await stream(
      res,
      (async function* () {
        if (!first.done) yield first.value;
        yield* pieces;
      })(),
    );
    await this.recordRead(req, 'audit.exported', filter, {
      from,
      to,
      rows: counts.rows,
      ...(complete ? {} : { interrupted: true }),
    });
  }

  private recordRead(
    req: AuditRequest,
    action: string,
    filter: AuditQuery['filter'],
    detail: Record<string, unknown>,
  ): Promise<void> {
    const { patientId, studyInstanceUid, ...rest } = filter;
    return this.audit.recordAlone({
      ...reader(req),
      action,
      outcome: 'success',
      patientId: patientId ?? null,
      studyInstanceUid: studyInstanceUid ?? null,
      detail: { ...detail, filter: rest },
    });
  }
}
