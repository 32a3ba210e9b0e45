import { InitialCatalog1764300000000 } from './1764300000000-InitialCatalog.js';
import { IngestFunctions1764300001000 } from './1764300001000-IngestFunctions.js';
import { IngestInOneStatement1764300002000 } from './1764300002000-IngestInOneStatement.js';
import { TierMoves1764300003000 } from './1764300003000-TierMoves.js';
import { Fixity1764300004000 } from './1764300004000-Fixity.js';
import { KeyRing1764300005000 } from './1764300005000-KeyRing.js';
import { FewerIngestWrites1764300006000 } from './1764300006000-FewerIngestWrites.js';
import { LocationChecksums1764300007000 } from './1764300007000-LocationChecksums.js';
import { Lifecycle1764300008000 } from './1764300008000-Lifecycle.js';
import { StorageCommitment1764300009000 } from './1764300009000-StorageCommitment.js';
import { ImportJournal1764300010000 } from './1764300010000-ImportJournal.js';
import { AuditTrail1764300011000 } from './1764300011000-AuditTrail.js';
import { AuditSyslog1764300012000 } from './1764300012000-AuditSyslog.js';
import { AccessControl1764300013000 } from './1764300013000-AccessControl.js';
import { ConfigVersions1764300014000 } from './1764300014000-ConfigVersions.js';
import { ReceivedDigests1764300015000 } from './1764300015000-ReceivedDigests.js';
import { JobLeases1764300016000 } from './1764300016000-JobLeases.js';

/** Every migration, in order. TypeORM with ESM needs the classes listed (no globs). */
export const migrations = [
  InitialCatalog1764300000000,
  IngestFunctions1764300001000,
  IngestInOneStatement1764300002000,
  TierMoves1764300003000,
  Fixity1764300004000,
  KeyRing1764300005000,
  FewerIngestWrites1764300006000,
  LocationChecksums1764300007000,
  Lifecycle1764300008000,
  StorageCommitment1764300009000,
  ImportJournal1764300010000,
  AuditTrail1764300011000,
  AuditSyslog1764300012000,
  AccessControl1764300013000,
  ConfigVersions1764300014000,
  ReceivedDigests1764300015000,
  JobLeases1764300016000,
];
