import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import { type Request, type Response } from 'express';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Every HTTP error leaves as RFC 9457 problem details; unexpected errors say nothing internal. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    let status = 500;
    let detail = 'the server could not complete the request';
    let extra: Record<string, unknown> = {};
    if (exception instanceof HttpException) {
      status = exception.getStatus();
      const body = exception.getResponse();
      if (typeof body === 'string') detail = body;
      else if (body && typeof body === 'object') {
        const b = body as Record<string, unknown>;
        const message = b.message;
        detail = Array.isArray(message) ? message.join('; ') : String(message ?? detail);
        extra = Object.fromEntries(
          Object.entries(b).filter(([k]) => !['message', 'error', 'statusCode'].includes(k)),
        );
      }
    } else {
      this.logger.error(
        `${req.method} ${req.path}: ${exception instanceof Error ? exception.stack : String(exception)}`,
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res
      .status(status)
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: 'about:blank',
          title: TITLES[status] ?? 'Error',
          status,
          detail,
          // The path without the query string: a QIDO-RS query can hold a patient's name, and an
          // error answer (a 401 to anyone at all) must not carry it back (issue 6, privacy).
          instance: req.originalUrl.split('?')[0],
          ...extra,
        }),
      );
  }
}
