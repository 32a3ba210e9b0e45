import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Readable } from 'node:stream';
import { AuditService } from '../../../audit/index.js';
import { STRATA_CONFIG, type StrataConfig } from '../../../config/index.js';
import {
  type AssociationDecision,
  type AssociationInfo,
  DimseServer,
  DimseServiceRegistry,
  type StoreRequest,
} from '../../../dimse/index.js';
import { IngestionService } from '../../ingestion.service.js';
import { storeStatus } from './store-status.js';

/**
 * The dimse-push adapter: a C-ECHO/C-STORE SCP whose only job is to turn each C-STORE into an
 * IngestRequest for the one pipeline (source = calling AE). It is also the archive's one
 * association listener: every other command goes to the DIMSE services other contexts registered
 * (C-FIND/C-MOVE/C-GET, Storage Commitment), all of them in their onModuleInit, i.e. before
 * onApplicationBootstrap starts listening here.
 */
@Injectable()
export class DimsePushService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DIMSE');
  private server: DimseServer | undefined;
  private boundPort = 0;

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly ingestion: IngestionService,
    private readonly audit: AuditService,
    private readonly registry: DimseServiceRegistry,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async onApplicationBootstrap(): Promise<void> {
    const d = this.config.dicom;
    this.server = new DimseServer({
      host: d.host,
      port: d.port,
      aeTitle: d.aeTitle,
      maxPduLength: d.maxPduLength,
      idleTimeoutMs: d.idleTimeoutMs,
      logger: {
        log: (m) => this.logger.log(m),
        warn: (m) => this.logger.warn(m),
        error: (m) => this.logger.error(m),
        debug: (m) => this.logger.debug(m),
      },
      handlers: {
        decideAssociation: (info) => this.decide(info),
        acceptsAbstractSyntax: (uid) =>
          this.ingestion.acceptsSopClass(uid) || this.registry.accepts(uid),
        // A C-GET SCU takes the SCP role for the storage SOP classes it wants instances in.
        acceptsRequesterScpRole: (uid) => this.ingestion.acceptsSopClass(uid),
        onStore: (req, data) => this.store(req, data),
        onOtherCommand: (req, reply) => this.registry.dispatch(req, reply),
      },
    });
    this.boundPort = await this.server.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close(10_000);
  }

  private async decide(info: AssociationInfo): Promise<AssociationDecision> {
    const d = this.config.dicom;
    let decision: AssociationDecision = { accept: true };
    if (d.checkCalledAet && info.calledAet !== d.aeTitle) {
      decision = {
        accept: false,
        result: 1,
        source: 1,
        reason: 7,
        logReason: 'called AE title not recognised',
      };
    } else if (d.allowedCallingAets.length > 0 && !d.allowedCallingAets.includes(info.callingAet)) {
      decision = {
        accept: false,
        result: 1,
        source: 1,
        reason: 3,
        logReason: 'calling AE title not in the allow-list',
      };
    }
    if (!decision.accept) {
      this.logger.warn(
        `refused association from ${info.callingAet}@${info.remoteAddress}: ${decision.logReason}`,
      );
      await this.audit
        .recordAlone({
          actor: info.callingAet,
          actorHost: info.remoteAddress,
          action: 'association.refused',
          outcome: 'failure',
          detail: { calledAet: info.calledAet, reason: decision.logReason },
        })
        .catch((e: unknown) =>
          this.logger.error(`could not audit a refused association: ${String(e)}`),
        );
    }
    return decision;
  }

  private async store(req: StoreRequest, data: Readable) {
    const result = await this.ingestion.ingest({
      adapter: 'dimse-push',
      // A configured peer's pushes are recorded under its source name (dicom.peers).
      source:
        this.config.dicom.peers[req.association.callingAet]?.source ?? req.association.callingAet,
      actor: req.association.callingAet,
      callingAet: req.association.callingAet,
      remoteHost: req.association.remoteAddress,
      framing: 'dataset',
      transferSyntaxUid: req.transferSyntaxUid,
      data,
      expected: {
        sopInstanceUid: req.affectedSopInstanceUid,
        sopClassUid: req.affectedSopClassUid,
      },
    });
    return storeStatus(result);
  }
}
