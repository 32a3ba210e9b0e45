import { Controller, Get, Param, Req, Res, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Roles } from '../access/index.js';
import { type Response } from 'express';
import { type QueryLevel, SearchError, type SearchScope } from '../catalog/index.js';
import { negotiateJson } from './accept.js';
import { checkUids, dicomwebBase, problem, requesterOf, type RequestWithUser } from './http.js';
import { QidoService } from './qido.service.js';
import { Retrieval, RetrievalMetricsInterceptor } from './retrieval-metrics.js';

/**
 * QIDO-RS (PS3.18 10.6). Answers 200 with a JSON array, an empty one when nothing matches
 * (PS3.18 allows 200 or 204; an empty array spares clients a special case). Catalog metadata: for
 * the archivist and auditor too; a pacs token finds only its source's instances.
 */
@ApiTags('dicomweb')
@Roles('archivist', 'auditor', 'pacs')
@ApiBearerAuth()
@UseInterceptors(RetrievalMetricsInterceptor)
@Controller('dicomweb')
export class QidoController {
  constructor(private readonly qido: QidoService) {}

  @Get('studies')
  @Retrieval('qido-rs', 'study')
  @ApiProduces('application/dicom+json')
  studies(@Req() req: RequestWithUser, @Res() res: Response): Promise<void> {
    return this.search(req, res, 'study', {});
  }

  @Get('series')
  @Retrieval('qido-rs', 'series')
  @ApiProduces('application/dicom+json')
  series(@Req() req: RequestWithUser, @Res() res: Response): Promise<void> {
    return this.search(req, res, 'series', {});
  }

  @Get('instances')
  @Retrieval('qido-rs', 'instance')
  @ApiProduces('application/dicom+json')
  instances(@Req() req: RequestWithUser, @Res() res: Response): Promise<void> {
    return this.search(req, res, 'instance', {});
  }

  @Get('studies/:study/series')
  @Retrieval('qido-rs', 'series')
  @ApiProduces('application/dicom+json')
  seriesOfStudy(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
  ): Promise<void> {
    return this.search(req, res, 'series', { studyInstanceUid: study });
  }

  @Get('studies/:study/instances')
  @Retrieval('qido-rs', 'instance')
  @ApiProduces('application/dicom+json')
  instancesOfStudy(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
  ): Promise<void> {
    return this.search(req, res, 'instance', { studyInstanceUid: study });
  }

  @Get('studies/:study/series/:series/instances')
  @Retrieval('qido-rs', 'instance')
  @ApiProduces('application/dicom+json')
  instancesOfSeries(
    @Req() req: RequestWithUser,
    @Res() res: Response,
    @Param('study') study: string,
    @Param('series') series: string,
  ): Promise<void> {
    return this.search(req, res, 'instance', {
      studyInstanceUid: study,
      seriesInstanceUid: series,
    });
  }

  private async search(
    req: RequestWithUser,
    res: Response,
    level: QueryLevel,
    scope: SearchScope,
  ): Promise<void> {
    const type = negotiateJson(req.headers.accept);
    if (!type)
      throw problem(406, 'QIDO-RS answers application/dicom+json (or application/json) only');
    checkUids({
      StudyInstanceUID: scope.studyInstanceUid,
      SeriesInstanceUID: scope.seriesInstanceUid,
    });
    // The raw query string keeps repeats and order, which PS3.18 gives meaning to (UID lists).
    const params = new URL(req.originalUrl, 'http://query.invalid').searchParams;
    let answer;
    try {
      answer = await this.qido.search(level, scope, params, requesterOf(req), dicomwebBase(req));
    } catch (error) {
      if (error instanceof SearchError)
        throw problem(400, error.message, error.key ? { key: error.key } : {});
      throw error;
    }
    const agent = req.get('host') ?? 'strata';
    if (answer.warnings.length > 0) {
      res.setHeader(
        'Warning',
        answer.warnings.map((w) => `299 ${agent} "${w.replace(/"/g, "'")}"`).join(', '),
      );
    }
    res.status(200).type(type).send(JSON.stringify(answer.results));
  }
}
