import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { STRATA_CONFIG, type StrataConfig } from '../config/index.js';
import { ARCHIVE_SIGNER, AuditModule, AuditService } from '../audit/index.js';
import { Database } from '../database/index.js';
import { ArchiveKeyRepository } from './archive-key.repository.js';
import { archiveSigner } from './archive-signer.js';
import { type BlobBackend } from './backend.js';
import { BlobStore } from './blob-store.service.js';
import { openBackends } from './backend-registry.js';
import { FilesystemBackend } from './filesystem.backend.js';
import { KeyRecipientRepository } from './key-recipient.repository.js';
import { KeyRing } from './key-ring.js';
import { KeyService } from './key.service.js';
import { LocationRepository } from './location.repository.js';
import { sweepOrphans } from './orphan-sweeper.js';
import { OpenPgpRepository } from './openpgp.repository.js';
import { SharedSecretCheckRepository } from './shared-secret-check.repository.js';
import { StudyKeyRepository } from './study-key.repository.js';

const BACKENDS = Symbol('BACKENDS');

interface KeyMaterial {
  keys: KeyService;
  dedupSecret: Buffer;
}
const KEY_MATERIAL = Symbol('KEY_MATERIAL');

async function loadKeys(
  config: StrataConfig,
  db: Database,
  audit: AuditService,
): Promise<KeyMaterial> {
  const logger = new Logger('Keys');
  const pgp = new OpenPgpRepository();
  const files = new ArchiveKeyRepository(config.keys.dir, config.keys.privateKeyFile);
  const material = await files.load(config.keys.passphrase, (p) => pgp.generateKeyPair(p));
  if (material.generated) logger.log(`generated the archive OpenPGP key in ${config.keys.dir}`);
  // Blob digests are HMACs under this secret: every node of the catalog must have the same one.
  await new SharedSecretCheckRepository(db).verify(
    'dedup',
    material.dedupSecret,
    `${config.keys.dir}/dedup.secret`,
  );
  if (!config.keys.passphrase) {
    logger.warn(
      '!!! STRATA_KEY_PASSPHRASE is not set: the archive private key is protected by a generated ' +
        `passphrase stored beside it in ${config.keys.dir}/passphrase (mode 0600). Anyone who can read ` +
        'the data dir can decrypt the archive. Set STRATA_KEY_PASSPHRASE and keep the key backed up. !!!',
    );
  }
  const ring = new KeyRing(
    pgp,
    files,
    new KeyRecipientRepository(db),
    db,
    audit,
    material.passphrase,
    { armored: material.armoredPrivate, file: material.privateFile },
  );
  const extra = await Promise.all(
    config.keys.extraRecipientFiles.map(async (file) => ({
      file,
      armored: await files.readFileText(file),
    })),
  );
  const added = await ring.open(extra);
  if (added.length > 0)
    logger.log(`registered keys in the catalog's key ring: ${added.join(', ')}`);
  return {
    keys: new KeyService(pgp, new StudyKeyRepository(db), ring),
    dedupSecret: material.dedupSecret,
  };
}

/**
 * After a crash: removes partial writes and objects that no catalog row references in the hot
 * tier (where ingest writes), once the app is up. Only leftovers older than the grace period are
 * removed (config storage.orphanGraceSeconds): 0 with the embedded database, where this process is
 * the only writer; 15 minutes with DATABASE_URL, where other nodes may have writes in flight.
 */
@Injectable()
class CrashLeftoverSweeper implements OnApplicationBootstrap {
  private readonly logger = new Logger('Storage');
  constructor(
    @Inject(BACKENDS) private readonly backends: Map<string, BlobBackend>,
    @Inject(STRATA_CONFIG) private readonly config: StrataConfig,
    private readonly db: Database,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const graceMs = this.config.storage.orphanGraceMs;
    const backend = this.backends.get(this.config.storage.tiers.hot.backend)!;
    const partial = backend instanceof FilesystemBackend ? await backend.sweepTemp(graceMs) : 0;
    const orphans = await sweepOrphans(backend, new LocationRepository(this.db), graceMs);
    if (partial + orphans > 0) {
      this.logger.warn(
        `backend '${backend.id}': removed ${partial} partial writes and ${orphans} unreferenced objects left by an interrupted ingest`,
      );
    }
  }
}

/** At shutdown, backends release what they hold (connections, a file made in advance). */
@Injectable()
class BackendCloser implements OnApplicationShutdown {
  constructor(@Inject(BACKENDS) private readonly backends: Map<string, BlobBackend>) {}

  async onApplicationShutdown(): Promise<void> {
    for (const backend of this.backends.values()) await backend.close();
  }
}

@Module({
  imports: [AuditModule],
  providers: [
    OpenPgpRepository,
    {
      provide: BACKENDS,
      inject: [STRATA_CONFIG],
      useFactory: (config: StrataConfig) => openBackends(config.storage),
    },
    {
      provide: KEY_MATERIAL,
      inject: [STRATA_CONFIG, Database, AuditService],
      useFactory: loadKeys,
    },
    { provide: KeyService, inject: [KEY_MATERIAL], useFactory: (m: KeyMaterial) => m.keys },
    // The audit trail signs its checkpoints with the archive key through this port.
    { provide: ARCHIVE_SIGNER, inject: [KeyService], useFactory: archiveSigner },
    {
      provide: BlobStore,
      inject: [BACKENDS, STRATA_CONFIG, OpenPgpRepository, KEY_MATERIAL],
      useFactory: (
        backends: Map<string, BlobBackend>,
        config: StrataConfig,
        pgp: OpenPgpRepository,
        m: KeyMaterial,
      ) => new BlobStore(backends, config.storage.tiers, pgp, m.keys, m.dedupSecret),
    },
    CrashLeftoverSweeper,
    BackendCloser,
  ],
  exports: [BlobStore, KeyService, ARCHIVE_SIGNER],
})
export class StorageModule {}
