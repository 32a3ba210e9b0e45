import { Module } from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../../config/index.js';
import { Database } from '../../database/index.js';
import { Registry } from '../../metrics/index.js';
import {
  AuditSyslogSender,
  DEFAULT_SYSLOG_TIMINGS,
  SYSLOG_TIMINGS,
} from './audit-syslog-sender.service.js';
import { PseudonymKeyRepository } from './pseudonym-key.repository.js';
import { SyslogMetrics } from './syslog-metrics.js';
import { SyslogSpoolRepository } from './syslog-spool.repository.js';
import { SyslogTransport } from './syslog-transport.repository.js';

/**
 * The audit trail's delivery to a syslog collector (`audit.syslog`; nothing runs without it).
 * Imported by the server's composition root only: a CLI command that records audit events does
 * not start a sender.
 */
@Module({
  providers: [
    SyslogSpoolRepository,
    {
      provide: SyslogTransport,
      useFactory: (config: StrataConfig) => new SyslogTransport(config.audit.syslog),
      inject: [STRATA_CONFIG],
    },
    {
      provide: PseudonymKeyRepository,
      useFactory: (config: StrataConfig) => new PseudonymKeyRepository(config.keys.dir),
      inject: [STRATA_CONFIG],
    },
    { provide: SYSLOG_TIMINGS, useValue: DEFAULT_SYSLOG_TIMINGS },
    {
      // The spool's backlog on /metrics, when there is a collector to deliver to.
      provide: SyslogMetrics,
      inject: [STRATA_CONFIG, Database, SyslogTransport, { token: Registry, optional: true }],
      useFactory: (
        config: StrataConfig,
        db: Database,
        transport: SyslogTransport,
        registry?: Registry,
      ) =>
        registry && config.audit.syslog
          ? new SyslogMetrics(registry, db, transport.destination)
          : null,
    },
    AuditSyslogSender,
  ],
})
export class AuditSyslogModule {}
