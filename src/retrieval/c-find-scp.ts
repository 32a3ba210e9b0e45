import { Inject, Injectable, Logger, type OnModuleInit, Optional } from '@nestjs/common';
import { AuditService } from '../audit/index.js';
import { CatalogReadService, SearchError, type SearchResult } from '../catalog/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import {
  CommandField,
  type DimseReplyChannel,
  type DimseResponse,
  type DimseServiceHandler,
  DimseServiceRegistry,
  DimseStatus,
  type OtherCommandRequest,
} from '../dimse/index.js';
import { FindResponseEncoder } from './c-find-encoder.js';
import {
  type FindModel,
  findModelOf,
  type FindQuery,
  FindRefusal,
  MAX_IDENTIFIER_BYTES,
  parseFindIdentifier,
  PATIENT_ROOT_FIND,
  pendingStatus,
  readIdentifier,
  STUDY_ROOT_FIND,
} from './c-find-identifier.js';
import { RetrievalMetrics } from './retrieval-metrics.js';

/**
 * The most matches one C-FIND answers. PS3.4 has no status for "limited": a query with more
 * matches is refused before any response (0xA700, out of resources, with a comment), rather than
 * cut silently, since a cut answer would end in Success and look complete.
 */
export const MAX_FIND_MATCHES = 10_000;

/**
 * Pending responses sent between two turns of the event loop, written together (one system call)
 * before their flow control is awaited.
 */
const BATCH = 64;

/**
 * The C-FIND SCP of the Patient Root and Study Root Query/Retrieve Information Models
 * (PS3.4 C.4.1), at the PATIENT, STUDY, SERIES and IMAGE levels: the identifier becomes one
 * catalog statement with QIDO-RS's matching, each match one pending response, then Success.
 * Each query is audited like a QIDO-RS search ('study.queried', keys without values) before the
 * first match leaves: a query that cannot be audited is not answered.
 *
 * Semantics (the conformance statement in short):
 * - baseline hierarchical query: the Unique Keys of the levels above must be single values
 *   (Patient Root: PatientID from STUDY down), else 0xA900 naming the key; keys of the levels
 *   above are also matched (as QIDO-RS matches study attributes in a series search);
 * - optional keys the level cannot match or return (a lower level's attributes, sequences — no
 *   sequence matching —, private attributes, RetrieveURL) are left out of the responses, and the
 *   matches come with 0xFF01 (PS3.4 C.2.2.1.3); a value on a key the catalog can return but not
 *   match (counters, attributes read from the stored metadata) is not matched, also 0xFF01;
 * - a value the matching rules refuse (a malformed date, an invalid UID) is 0xA900 naming the
 *   key; an identifier that does not decode is 0xC000, one over 1 MiB 0xA700;
 * - more than MAX_FIND_MATCHES matches: 0xA700 before any response (see above);
 * - C-CANCEL: no further pending response, 0xFE00;
 * - responses: the requested keys, Query/Retrieve Level, Retrieve AE Title (ours), and Specific
 *   Character Set when a value needs it (see FindResponseEncoder), in the request's transfer
 *   syntax; expired studies are never matched, at any level.
 *
 * Registers itself with the DIMSE service registry at module init, before the association
 * listener starts; other commands on these SOP classes are left to the transport (0x0211).
 */
@Injectable()
export class CFindScp implements DimseServiceHandler, OnModuleInit {
  readonly name = 'query-retrieve-find';
  readonly sopClasses: readonly string[] = [PATIENT_ROOT_FIND, STUDY_ROOT_FIND];
  private readonly logger = new Logger('C-FIND');

  constructor(
    private readonly catalog: CatalogReadService,
    private readonly audit: AuditService,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly registry: DimseServiceRegistry,
    @Optional() private readonly metrics?: RetrievalMetrics,
  ) {}

  onModuleInit(): void {
    this.registry.register(this);
  }

  handle(req: OtherCommandRequest, reply: DimseReplyChannel): Promise<DimseResponse | undefined> {
    if (!this.metrics) return this.answer(req, reply);
    return this.metrics.dimse('c-find', req.abstractSyntaxUid, () => this.answer(req, reply));
  }

  private async answer(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<DimseResponse | undefined> {
    const model = findModelOf(req.abstractSyntaxUid);
    if (req.command.commandField !== CommandField.CFindRq || model === null) return undefined;
    try {
      return await this.find(req, reply, model);
    } catch (error) {
      if (!(error instanceof FindRefusal)) throw error;
      const tag = error.offendingTag ? parseInt(error.offendingTag, 16) >>> 0 : undefined;
      return {
        status: error.status,
        errorComment: error.message,
        ...(tag !== undefined ? { command: { offendingElement: [tag] } } : {}),
      };
    }
  }

  private async find(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
    model: FindModel,
  ): Promise<DimseResponse> {
    if (!req.data) {
      throw new FindRefusal(DimseStatus.DataSetDoesNotMatchSopClass, 'no identifier');
    }
    const bytes = await readIdentifier(req.data, MAX_IDENTIFIER_BYTES);
    if (!bytes) throw new FindRefusal(DimseStatus.OutOfResources, 'identifier larger than 1 MiB');
    const query = parseFindIdentifier(bytes, req.transferSyntaxUid, model);
    const encoder = new FindResponseEncoder({
      transferSyntaxUid: req.transferSyntaxUid,
      levelName: query.levelName,
      retrieveAeTitle: this.config.dicom.aeTitle,
      keys: query.responseKeys,
      requestCharset: query.specificCharacterSet,
    });
    if (req.signal.aborted) return { status: DimseStatus.Cancel };

    const found = await this.search(query);
    await this.record(req, query, found);
    if (found.more) {
      throw new FindRefusal(
        DimseStatus.OutOfResources,
        `more than ${MAX_FIND_MATCHES} matches: narrow the query`,
      );
    }
    const status = pendingStatus(query);
    for (let from = 0; from < found.results.length; from += BATCH) {
      // Let the socket's reads in now and then: a C-CANCEL-RQ, other associations, HTTP.
      if (from > 0) await new Promise((r) => setImmediate(r));
      const sent: Promise<void>[] = [];
      for (const match of found.results.slice(from, from + BATCH)) {
        if (req.signal.aborted) break;
        sent.push(reply.sendPending({ status, dataset: encoder.encode(match) }));
      }
      await Promise.all(sent);
      if (req.signal.aborted) return { status: DimseStatus.Cancel };
    }
    return { status: DimseStatus.Success };
  }

  /** One statement: the catalog's patient search, or its study/series/instance search. */
  private async search(query: FindQuery): Promise<SearchResult> {
    const keys = query.keys.map(({ key, value }) => ({ key, value }));
    try {
      return query.level === 'patient'
        ? await this.catalog.searchPatients({ keys, limit: MAX_FIND_MATCHES })
        : await this.catalog.search(
            {
              level: query.level,
              keys,
              includeFields: [],
              defaultFields: false,
              limit: MAX_FIND_MATCHES,
              offset: 0,
            },
            // RetrieveURL is not a C-FIND key (findKeySupport): no DICOMweb base is needed.
            '',
          );
    } catch (error) {
      if (error instanceof SearchError) {
        // The message names the key (keyword or tag), never its value.
        const tag = query.keys.find((k) => k.key === error.key)?.tag;
        throw new FindRefusal(DimseStatus.DataSetDoesNotMatchSopClass, error.message, tag);
      }
      this.logger.error(`C-FIND query failed: ${message(error)}`);
      const code = (error as { code?: unknown } | null)?.code;
      // PostgreSQL's insufficient resources (53xxx) and statement timeouts (57014).
      if (typeof code === 'string' && (code.startsWith('53') || code === '57014')) {
        throw new FindRefusal(DimseStatus.OutOfResources, 'out of resources: try again later');
      }
      throw new FindRefusal(DimseStatus.CannotUnderstand, 'the query could not be run');
    }
  }

  /** The audit event, as QIDO-RS writes it: keys without values (they may be patient data). */
  private async record(req: OtherCommandRequest, query: FindQuery, found: SearchResult) {
    const a = req.association;
    try {
      await this.audit.recordAlone({
        actor: a.callingAet,
        actorHost: a.remoteAddress,
        role: null,
        action: 'study.queried',
        outcome: found.more ? 'failure' : 'success',
        studyInstanceUid: query.studyInstanceUid,
        instances: null,
        detail: {
          protocol: 'DIMSE C-FIND',
          model: query.model,
          level: query.level,
          keys: query.keyNames,
          ...(query.unsupported.length > 0 ? { unsupportedKeys: query.unsupported } : {}),
          ...(query.notMatched.length > 0 ? { unmatchedKeys: query.notMatched } : {}),
          results: found.more ? null : found.results.length,
          ...(found.more ? { reason: `more than ${MAX_FIND_MATCHES} matches` } : {}),
          calledAet: a.calledAet,
          association: a.id,
        },
      });
    } catch (error) {
      this.logger.error(`could not audit a C-FIND: ${message(error)}`);
      throw new FindRefusal(DimseStatus.CannotUnderstand, 'the query could not be audited');
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
