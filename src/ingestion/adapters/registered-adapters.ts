import { DicomwebPullAdapter } from './dicomweb-pull/dicomweb-pull.adapter.js';
import { DicomwebPullModule } from './dicomweb-pull/dicomweb-pull.module.js';
import { DimsePullAdapter } from './dimse-pull/dimse-pull.adapter.js';
import { DimsePullModule } from './dimse-pull/dimse-pull.module.js';
import { DimsePushModule } from './dimse-push/dimse-push.module.js';
import { DimsePushService } from './dimse-push/dimse-push.service.js';
import { FolderImportAdapter } from './folder-import/folder-import.adapter.js';
import { FolderImportModule } from './folder-import/folder-import.module.js';
import { OrthancPullAdapter } from './orthanc-pull/orthanc-pull.adapter.js';
import { OrthancPullModule } from './orthanc-pull/orthanc-pull.module.js';
import { StowPushAdapter } from './stow-push/stow-push.adapter.js';
import { StowPushModule } from './stow-push/stow-push.module.js';

/**
 * The registration: each adapter's module (which provides and exports its adapter class) and that
 * class. Adding an adapter is its folder plus one line here; AdaptersModule collects the classes
 * into the INGESTION_ADAPTERS token (Nest has no multi-providers), in this order, which is also
 * the order they start in.
 */
export const REGISTERED_ADAPTERS = [
  { module: DimsePushModule, adapter: DimsePushService },
  { module: StowPushModule, adapter: StowPushAdapter },
  { module: FolderImportModule, adapter: FolderImportAdapter },
  { module: DicomwebPullModule, adapter: DicomwebPullAdapter },
  { module: OrthancPullModule, adapter: OrthancPullAdapter },
  { module: DimsePullModule, adapter: DimsePullAdapter },
];
