import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Response } from 'express';
import { type Observable } from 'rxjs';
import { DimseStatus, statusCategory } from '../dimse/index.js';
import { Counter, DURATION_BUCKETS_SECONDS, Histogram, Registry } from '../metrics/index.js';

/** wado-rs, qido-rs, c-find, c-move, c-get. */
export type RetrievalProtocol = 'wado-rs' | 'qido-rs' | 'c-find' | 'c-move' | 'c-get';

type Label = 'protocol' | 'kind' | 'outcome';

/**
 * Retrievals as Prometheus sees them: requests by protocol, kind and outcome, and how long each
 * took (to the end of the answer: for WADO-RS the whole multipart stream, for C-MOVE/C-GET every
 * sub-operation). Kinds: WADO-RS instances, metadata or bulkdata; QIDO-RS the query level (study,
 * series, instance); DIMSE the information model (patient-root, study-root). Outcomes: success,
 * warning, cancelled, not-found, refused (other 4xx / DIMSE failure statuses), error (5xx, an
 * exception), aborted (the client went away mid-answer). HTTP requests refused by authentication
 * (401/403) are not retrievals and are not counted here.
 */
export class RetrievalMetrics {
  private readonly total: Counter<Label>;
  private readonly duration: Histogram<'protocol' | 'kind'>;

  /** Without a registry, counts go to a private one nobody reads. */
  constructor(registry: Registry | null) {
    const registers = [registry ?? new Registry()];
    this.total = new Counter({
      name: 'strata_retrievals_total',
      help: 'Retrieval requests (WADO-RS, QIDO-RS, C-FIND, C-MOVE, C-GET) by protocol, kind and outcome',
      labelNames: ['protocol', 'kind', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'strata_retrieval_duration_seconds',
      help: 'Time to answer a retrieval request completely, by protocol and kind',
      labelNames: ['protocol', 'kind'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
  }

  /** Starts timing one request; call the result with its outcome when it is over. */
  start(protocol: RetrievalProtocol, kind: string): (outcome: string) => void {
    const started = performance.now();
    return (outcome) => {
      this.total.inc({ protocol, kind, outcome });
      this.duration.observe({ protocol, kind }, (performance.now() - started) / 1000);
    };
  }

  /** Times a DIMSE handler (C-FIND, C-MOVE, C-GET); undefined answers (not ours) are not counted. */
  async dimse<T extends { status: number } | undefined>(
    protocol: RetrievalProtocol,
    abstractSyntaxUid: string,
    work: () => Promise<T>,
  ): Promise<T> {
    const end = this.start(protocol, modelOf(abstractSyntaxUid));
    let result: T;
    try {
      result = await work();
    } catch (error) {
      end('error');
      throw error;
    }
    if (result !== undefined) end(dimseOutcome(result.status));
    return result;
  }
}

/** Patient Root models are 1.2.840.10008.5.1.4.1.2.1.x, Study Root 1.2.840.10008.5.1.4.1.2.2.x. */
function modelOf(uid: string): string {
  if (uid.startsWith('1.2.840.10008.5.1.4.1.2.1.')) return 'patient-root';
  if (uid.startsWith('1.2.840.10008.5.1.4.1.2.2.')) return 'study-root';
  return 'other';
}

function dimseOutcome(status: number): string {
  if (status === DimseStatus.Cancel) return 'cancelled';
  const category = statusCategory(status);
  return category === 'success' ? 'success' : category === 'warning' ? 'warning' : 'refused';
}

function httpOutcome(res: Response): string {
  if (!res.writableFinished) return 'aborted';
  const s = res.statusCode;
  if (s < 300) return 'success';
  if (s === 404) return 'not-found';
  if (s < 500) return 'refused';
  return 'error';
}

const RETRIEVAL = Symbol('strata:retrieval');

/** Marks a DICOMweb handler as a retrieval of this protocol and kind (RetrievalMetricsInterceptor). */
export const Retrieval = (protocol: RetrievalProtocol, kind: string) =>
  SetMetadata(RETRIEVAL, { protocol, kind });

/**
 * Times the DICOMweb handlers marked @Retrieval until their response is over (handlers stream
 * their answers through @Res, so the end is the response's 'close', not the handler's return).
 */
@Injectable()
export class RetrievalMetricsInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly metrics: RetrievalMetrics,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const meta = this.reflector.get<{ protocol: RetrievalProtocol; kind: string } | undefined>(
      RETRIEVAL,
      context.getHandler(),
    );
    if (meta) {
      const res = context.switchToHttp().getResponse<Response>();
      const end = this.metrics.start(meta.protocol, meta.kind);
      res.once('close', () => end(httpOutcome(res)));
    }
    return next.handle();
  }
}
