import { Module } from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../../config/index.js';
import {
  AuditSyslogSender,
  DEFAULT_SYSLOG_TIMINGS,
  SYSLOG_TIMINGS,
} from './audit-syslog-sender.service.js';
import { PseudonymKeyRepository } from './pseudonym-key.repository.js';
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
    AuditSyslogSender,
  ],
})
export class AuditSyslogModule {}
