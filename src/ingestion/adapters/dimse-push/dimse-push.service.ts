import { Inject, Injectable, Logger } from '@nestjs/common';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Readable } from 'node:stream';
import { z } from 'zod';
import { AuditService } from '../../../audit/index.js';
import {
  checkTlsFiles,
  type DicomOperation,
  type SourceConfig,
  STRATA_CONFIG,
  type StrataConfig,
} from '../../../config/index.js';
import {
  type AssociationDecision,
  type AssociationInfo,
  type DimseReplyChannel,
  type DimseResponse,
  DimseServer,
  type DimseServerOptions,
  DimseServiceRegistry,
  type OtherCommandRequest,
  type StoreRequest,
} from '../../../dimse/index.js';
import { InFlightBudget } from '../../in-flight-budget.js';
import { IngestionService } from '../../ingestion.service.js';
import { OverloadRefusals } from '../../overload-refusals.js';
import {
  type AdapterHealth,
  type AdapterStatus,
  type IngestionAdapter,
  sourcesOf,
} from '../adapter.js';
import { AdapterActivity } from '../adapter-activity.js';
import { optionProblems } from '../source-options.js';
import { allowedOperations, commandName, notAuthorized, operationOf } from './peer-access.js';
import { storeStatus } from './store-status.js';

/**
 * The dimse-push adapter: a C-ECHO/C-STORE SCP whose only job is to turn each C-STORE into an
 * IngestRequest for the one pipeline (source = calling AE). It is also the archive's one
 * association listener: every other command goes to the DIMSE services other contexts registered
 * (C-FIND/C-MOVE/C-GET, Storage Commitment), all of them in their onModuleInit, i.e. before
 * the adapter registry starts this adapter (onApplicationBootstrap) and it listens. Being the one
 * listener, it also applies each peer's rights (dicom.peers.<AE>.allow, dicom.unknownPeers) to
 * every command before it reaches a service.
 */
@Injectable()
export class DimsePushService implements IngestionAdapter {
  readonly id = 'dimse-push';
  readonly kind = 'push';
  readonly capabilities = ['c-echo-scp', 'c-store-scp'] as const;
  private readonly logger = new Logger('DIMSE');
  private readonly activity = new AdapterActivity();
  private server: DimseServer | undefined;
  private boundPort = 0;
  /** The DICOM TLS listener (dicom.tls), same handlers as the plain one. */
  private tlsServer: DimseServer | undefined;
  private boundTlsPort: number | null = null;
  /** Accepted associations, by id, on every listener: limits.maxAssociations counts them. */
  private readonly admitted = new Set<string>();

  constructor(
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly ingestion: IngestionService,
    private readonly audit: AuditService,
    private readonly registry: DimseServiceRegistry,
    private readonly inFlight: InFlightBudget,
    private readonly overload: OverloadRefusals,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  /** The bound DICOM TLS port; null without dicom.tls. */
  get tlsPort(): number | null {
    return this.boundTlsPort;
  }

  async start(): Promise<void> {
    const d = this.config.dicom;
    const options: DimseServerOptions = {
      host: d.host,
      port: d.port,
      aeTitle: d.aeTitle,
      maxPduLength: d.maxPduLength,
      idleTimeoutMs: d.idleTimeoutMs,
      logger: {
        log: (m, fields) => (fields ? this.logger.log(m, fields) : this.logger.log(m)),
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
        onOtherCommand: (req, reply) => this.other(req, reply),
        onAssociationClosed: (info) => this.admitted.delete(info.id),
      },
    };
    this.server = new DimseServer(options);
    this.boundPort = await this.server.listen();
    if (d.tls) {
      try {
        // The same associations over TLS (PS3.15 B.9); the files were checked at load.
        this.tlsServer = new DimseServer({
          ...options,
          host: d.tls.host,
          port: d.tls.port,
          tls: d.tls,
        });
        this.boundTlsPort = await this.tlsServer.listen();
      } catch (error) {
        // Not started: the registry will not stop us, so the plain listener closes here.
        await this.server.close(0);
        throw new Error(`dicom.tls (${d.tls.host}:${d.tls.port}): ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    this.activity.started();
  }

  /**
   * Reads the TLS listener's certificate, key and CA files again (SIGHUP, after a certificate
   * renewal) and serves the new certificate from the next handshake on. The files are checked as at
   * start first: on a problem the error names it and the certificate in use stays. Audited either
   * way. Null without a TLS listener.
   */
  async reloadTlsCertificate(
    by: string,
  ): Promise<{ subject: string; fingerprint256: string; validTo: string } | null> {
    const tls = this.config.dicom.tls;
    if (!tls || !this.tlsServer) return null;
    try {
      checkTlsFiles('dicom.tls', {
        certFile: tls.certFile,
        keyFile: tls.keyFile,
        ...(tls.caFile ? { caFile: tls.caFile } : {}),
      });
      this.tlsServer.reloadTls();
    } catch (error) {
      const message = (error as Error).message;
      await this.audit.recordAlone({
        actor: by,
        action: 'tls.certificate-reloaded',
        outcome: 'failure',
        detail: { certFile: tls.certFile, error: message },
      });
      throw error;
    }
    const cert = new X509Certificate(readFileSync(tls.certFile));
    const loaded = {
      subject: cert.subject.replace(/\n/g, ', '),
      fingerprint256: cert.fingerprint256,
      validTo: new Date(cert.validTo).toISOString(),
    };
    await this.audit.recordAlone({
      actor: by,
      action: 'tls.certificate-reloaded',
      outcome: 'success',
      detail: { certFile: tls.certFile, ...loaded },
    });
    return loaded;
  }

  async stop(): Promise<void> {
    this.activity.stopped();
    await Promise.all([this.server?.close(10_000), this.tlsServer?.close(10_000)]);
  }

  async health(): Promise<AdapterHealth> {
    const tls = this.boundTlsPort === null ? '' : `, TLS port ${this.boundTlsPort}`;
    return this.activity.isRunning
      ? {
          ok: true,
          detail: `${this.config.dicom.aeTitle} listening on port ${this.boundPort}${tls}`,
        }
      : { ok: false, detail: 'not listening' };
  }

  /** A dimse-push source names the peer whose pushes it takes, and has no keys of its own. */
  checkSource(source: SourceConfig): string[] {
    const problems = optionProblems(z.object({}).strict(), source.options);
    if (!source.peer) problems.push('peer: a dimse-push source names its peer (dicom.peers)');
    return problems;
  }

  status(): AdapterStatus {
    return this.activity.status(sourcesOf(this.config.sources, this.id).map((s) => s.name));
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
    } else if (allowedOperations(d, info.callingAet).length === 0) {
      // A peer that may do nothing has no use for an association (C-ECHO included).
      decision = {
        accept: false,
        result: 1,
        source: 1,
        reason: 3,
        logReason: d.peers[info.callingAet]
          ? `dicom.peers.${info.callingAet}.allow is empty`
          : 'unknown calling AE title (dicom.unknownPeers.allow is empty)',
      };
    } else {
      // A peer we would accept, but not now: refused as transient, reported without flooding.
      const busy = this.overloaded();
      if (busy) {
        await this.overload.refused({
          protocol: 'DIMSE',
          limit: busy.limit,
          actor: info.callingAet,
          actorHost: info.remoteAddress,
          calledAet: info.calledAet,
          reason: busy.decision.logReason,
        });
        return busy.decision;
      }
    }
    if (decision.accept) {
      // Before any await: the next A-ASSOCIATE-RQ must see this one counted.
      this.admitted.add(info.id);
      return decision;
    }
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
    return decision;
  }

  /**
   * Whether limits refuse a new association (PS3.8 Table 9-21: result 2 rejected-transient,
   * source 3 service-provider presentation): the association limit is a configured local limit
   * (reason 2, local-limit-exceeded); the in-flight budget being spent is congestion that clears
   * as the instances in progress are stored (reason 1, temporary-congestion).
   */
  private overloaded(): {
    limit: 'associations' | 'in-flight-bytes';
    decision: Extract<AssociationDecision, { accept: false }>;
  } | null {
    const l = this.config.limits;
    if (this.admitted.size >= l.maxAssociations) {
      return {
        limit: 'associations',
        decision: {
          accept: false,
          result: 2,
          source: 3,
          reason: 2,
          logReason: `${this.admitted.size} associations open (limits.maxAssociations: ${l.maxAssociations})`,
        },
      };
    }
    if (this.inFlight.exhausted) {
      return {
        limit: 'in-flight-bytes',
        decision: {
          accept: false,
          result: 2,
          source: 3,
          reason: 1,
          logReason: this.inFlight.describe(),
        },
      };
    }
    return null;
  }

  private async store(req: StoreRequest, data: Readable) {
    if (!this.allows(req.association, 'store')) {
      data.resume(); // discarded: the refusal is sent once the data set is in
      return this.denied(req.association, 'store', req.affectedSopClassUid);
    }
    // A configured peer's pushes are recorded under its source name (dicom.peers, or the source
    // in the config file that names the peer); anyone else's under the calling AE title.
    const source =
      this.config.dicom.peers[req.association.callingAet]?.source ?? req.association.callingAet;
    const result = await this.ingestion.ingest({
      adapter: this.id,
      source,
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
    this.activity.count(source, result);
    return storeStatus(result);
  }

  /** C-FIND, C-MOVE, C-GET, N-ACTION...: to the service registered for it, if the peer may. */
  private async other(
    req: OtherCommandRequest,
    reply: DimseReplyChannel,
  ): Promise<DimseResponse | undefined> {
    const operation = operationOf(req.command.commandField);
    if (operation !== null && !this.allows(req.association, operation)) {
      req.data?.resume();
      return this.denied(req.association, operation, req.abstractSyntaxUid);
    }
    return this.registry.dispatch(req, reply);
  }

  private allows(association: AssociationInfo, operation: DicomOperation): boolean {
    return allowedOperations(this.config.dicom, association.callingAet).includes(operation);
  }

  /** Refuses a command (0124), audited as 'permission.denied': who, what, never the data set. */
  private async denied(
    association: AssociationInfo,
    operation: DicomOperation,
    sopClassUid: string,
  ): Promise<DimseResponse> {
    const command = commandName(operation);
    if (operation === 'store') this.ingestion.countRefusal(this.id, 'not-authorized');
    this.logger.warn(
      `refused ${command} from ${association.callingAet}@${association.remoteAddress}: not authorized`,
    );
    await this.audit
      .recordAlone({
        actor: association.callingAet,
        actorHost: association.remoteAddress,
        action: 'permission.denied',
        outcome: 'failure',
        detail: {
          protocol: 'DIMSE',
          command,
          operation,
          sopClassUid,
          calledAet: association.calledAet,
          association: association.id,
          allowed: [...allowedOperations(this.config.dicom, association.callingAet)],
        },
      })
      .catch((e: unknown) => this.logger.error(`could not audit a refused command: ${String(e)}`));
    return notAuthorized(operation);
  }
}
