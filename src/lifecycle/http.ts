import { HttpException } from '@nestjs/common';
import { type Request } from 'express';

export interface StrataRequest extends Request {
  strataUser?: { name: string; role?: string };
}

export const actorOf = (req: StrataRequest) => ({
  actor: req.strataUser?.name ?? 'unknown',
  actorHost: req.ip ?? null,
  role: req.strataUser?.role ?? null,
});

export function problem(status: number, detail: string): HttpException {
  return new HttpException({ message: detail }, status);
}

/** `at=` as a date (YYYY-MM-DD, the start of that day in UTC) or an ISO 8601 timestamp. */
export function parseAt(text: unknown): Date | undefined {
  if (text === undefined) return undefined;
  if (typeof text !== 'string') throw problem(400, 'at must be a date (YYYY-MM-DD)');
  const d = /^\d{4}-\d{2}-\d{2}$/.test(text) ? new Date(`${text}T00:00:00Z`) : new Date(text);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    throw problem(400, 'at must be a date (YYYY-MM-DD) or an ISO 8601 timestamp');
  }
  return d;
}
