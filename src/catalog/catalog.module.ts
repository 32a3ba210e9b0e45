import { Module } from '@nestjs/common';
import { CatalogReadRepository } from './catalog-read.repository.js';
import { CatalogReadService } from './catalog-read.service.js';
import { CatalogRepository } from './catalog.repository.js';
import { CatalogService } from './catalog.service.js';
import { SearchRepository } from './qido/search.repository.js';

@Module({
  providers: [
    CatalogRepository,
    CatalogService,
    SearchRepository,
    CatalogReadRepository,
    CatalogReadService,
  ],
  exports: [CatalogService, CatalogReadService],
})
export class CatalogModule {}
