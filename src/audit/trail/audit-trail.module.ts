import { type DynamicModule, type ForwardReference, Module, type Type } from '@nestjs/common';
import { AuditTrailRepository } from './audit-trail.repository.js';
import { BundleExporter } from './bundle-exporter.service.js';
import { ChainCrypto } from './chain-crypto.repository.js';
import {
  AUDIT_TRAIL_OPTIONS,
  type AuditTrailOptions,
  CheckpointService,
} from './checkpoint.service.js';
import { TrailVerifier } from './trail-verifier.service.js';

const EXPORTS = [CheckpointService, TrailVerifier, BundleExporter];

/**
 * Tamper evidence for the audit trail: signed checkpoints, verification and offline-verifiable
 * export. Separate from AuditModule because signing needs the archive key, provided by the storage
 * context as ARCHIVE_SIGNER, and storage itself records audit events through AuditModule: the
 * composition root (AppModule, a CLI command) passes the module that provides the signer.
 * Global, so the admin context's audit routes reach it wherever AppModule imports it.
 */
@Module({})
export class AuditTrailModule {
  static forRoot(
    options: AuditTrailOptions & {
      /** A module exporting ARCHIVE_SIGNER (StorageModule). */
      signer: Type | DynamicModule | ForwardReference;
    },
  ): DynamicModule {
    return {
      module: AuditTrailModule,
      global: true,
      imports: [options.signer],
      providers: [
        { provide: AUDIT_TRAIL_OPTIONS, useValue: { schedule: options.schedule } },
        AuditTrailRepository,
        ChainCrypto,
        ...EXPORTS,
      ],
      exports: EXPORTS,
    };
  }
}
