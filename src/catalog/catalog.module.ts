import { Module } from '@nestjs/common';
import { CatalogReadRepository } from './catalog-read.repository.js';
import { CatalogReadService } from './catalog-read.service.js';
import { CatalogRepository } from './catalog.repository.js';
import { CatalogService } from './catalog.service.js';
import { SearchRepository } from './qido/search.repository.js';
import { StudyAccessEvents } from './study-access-events.js';

@Module({
  providers: [
    CatalogRepository,
    CatalogService,
    SearchRepository,
    CatalogReadRepository,
    CatalogReadService,
    StudyAccessEvents,
  ],
  exports: [CatalogService, CatalogReadService, StudyAccessEvents],
})
export class CatalogModule {}
