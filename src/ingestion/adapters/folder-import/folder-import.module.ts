import { Module } from '@nestjs/common';
import { IngestionModule } from '../../ingestion.module.js';
import { FolderImportAdapter } from './folder-import.adapter.js';
import { FolderImporter } from './folder-importer.service.js';

/** FolderImporter serves the CLI too, where the adapter is never started (no registry there). */
@Module({
  imports: [IngestionModule],
  providers: [FolderImporter, FolderImportAdapter],
  exports: [FolderImporter, FolderImportAdapter],
})
export class FolderImportModule {}
