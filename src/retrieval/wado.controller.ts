import { Controller, Get, Param, Req, Res, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Roles, sourceLimitOf } from '../access/index.js';
import { type Response } from 'express';
import { type RetrievalFilter } from '../catalog/index.js';
import { negotiateBulkData, negotiateDicomInstances, negotiateJson } from './accept.js';
import { BulkDataService, parseBulkDataPath } from './bulkdata.service.js';
import { checkUids, dicomwebBase, problem, requesterOf, type RequestWithUser } from './http.js';
import { MetadataService } from './metadata.service.js';
import { Retrieval, RetrievalMetricsInterceptor } from './retrieval-metrics.js';
import { WadoService } from './wado.service.js';

const DICOM_MULTIPART = 'multipart/related; type="application/dicom"';

/** What a request asks for; a pacs token's request only reaches its source's instances. */
function filterOf(
  req: RequestWithUser,
  study: string,
  series?: string,
  instance?: string,
): RetrievalFilter {
  checkUids({ StudyInstanceUID: study, SeriesInstanceUID: series, SOPInstanceUID: instance });
  const fromSource = sourceLimitOf(req.strataUser);
  return {
    studyInstanceUid: study,
    ...(series ? { seriesInstanceUid: series } : {}),
    ...(instance ? { sopInstanceUid: instance } : {}),
    ...(fromSource !== null ? { fromSource } : {}),
  };
}

/** Catalog metadata (no pixel data): the auditor's too. */
const METADATA_ROLES = ['archivist', 'auditor', 'pacs'] as const;

/**
 * WADO-RS (PS3.18 10.4): instances, metadata and bulk data of a study, series or instance. Pixel
 * data (instances, bulk data) is for pacs tokens; metadata for the auditor and archivist too.
 */
@ApiTags('dicomweb')
@ApiBearerAuth()
@UseInterceptors(RetrievalMetricsInterceptor)
@Controller('dicomweb')
export class WadoController {
  constructor(
    private readonly wado: WadoService,
    private readonly metadata: MetadataService,
    private readonly bulk: BulkDataService,
  ) {}

  @Roles('pacs')
  @Get('studies/:study')
  @Retrieval('wado-rs', 'instances')
  @ApiProduces(DICOM_MULTIPART)
  study(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
  ): Promise<void> {
    return this.instances(req, res, filterOf(req, study));
  }

  @Roles('pacs')
  @Get('studies/:study/series/:series')
  @Retrieval('wado-rs', 'instances')
  @ApiProduces(DICOM_MULTIPART)
  series(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
    @Param('series') series: string,
  ): Promise<void> {
    return this.instances(req, res, filterOf(req, study, series));
  }

  @Roles('pacs')
  @Get('studies/:study/series/:series/instances/:instance')
  @Retrieval('wado-rs', 'instances')
  @ApiProduces(DICOM_MULTIPART)
  instance(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
    @Param('series') series: string,
    @Param('instance') instance: string,
  ): Promise<void> {
    return this.instances(req, res, filterOf(req, study, series, instance));
  }

  @Roles(...METADATA_ROLES)
  @Get('studies/:study/metadata')
  @Retrieval('wado-rs', 'metadata')
  @ApiProduces('application/dicom+json')
  studyMetadata(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
  ): Promise<void> {
    return this.meta(req, res, filterOf(req, study));
  }

  @Roles(...METADATA_ROLES)
  @Get('studies/:study/series/:series/metadata')
  @Retrieval('wado-rs', 'metadata')
  @ApiProduces('application/dicom+json')
  seriesMetadata(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
    @Param('series') series: string,
  ): Promise<void> {
    return this.meta(req, res, filterOf(req, study, series));
  }

  @Roles(...METADATA_ROLES)
  @Get('studies/:study/series/:series/instances/:instance/metadata')
  @Retrieval('wado-rs', 'metadata')
  @ApiProduces('application/dicom+json')
  instanceMetadata(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
    @Param('series') series: string,
    @Param('instance') instance: string,
  ): Promise<void> {
    return this.meta(req, res, filterOf(req, study, series, instance));
  }

  /** The path is a tag, or sequence tag / item / tag ... as the metadata's BulkDataURIs give it. */
  @Roles('pacs')
  @Get('studies/:study/series/:series/instances/:instance/bulkdata/*path')
  @Retrieval('wado-rs', 'bulkdata')
  @ApiProduces('multipart/related; type="application/octet-stream"')
  bulkData(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
    @Param('series') series: string,
    @Param('instance') instance: string,
    @Param('path') rawPath: string | string[],
  ): Promise<void> {
    const filter = filterOf(req, study, series, instance);
    const segments = Array.isArray(rawPath) ? rawPath : rawPath.split('/');
    const path = parseBulkDataPath(segments);
    if (!path) throw problem(404, 'no bulk data is served at this path');
    if (!negotiateBulkData(req.headers.accept)) {
      throw problem(
        406,
        'bulk data is served as multipart/related; type="application/octet-stream" only',
      );
    }
    return this.bulk.retrieve(filter, path, requesterOf(req), res);
  }

  private instances(req: RequestWithUser, res: Response, filter: RetrievalFilter): Promise<void> {
    const accepted = negotiateDicomInstances(req.headers.accept);
    if (!accepted) {
      throw problem(
        406,
        `instances are served as ${DICOM_MULTIPART} (transfer-syntax=* or the stored one) only`,
      );
    }
    return this.wado.retrieve(filter, accepted, requesterOf(req), res);
  }

  private meta(req: RequestWithUser, res: Response, filter: RetrievalFilter): Promise<void> {
    const type = negotiateJson(req.headers.accept);
    if (!type) throw problem(406, 'metadata is served as application/dicom+json only');
    return this.metadata.stream(filter, type, dicomwebBase(req), requesterOf(req), res);
  }
}
