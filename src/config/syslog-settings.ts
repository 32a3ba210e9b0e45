import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';

/**
 * `audit.syslog` in the config file: where the audit trail is sent, as DICOM PS3.15 audit messages
 * in RFC 5424 syslog over TCP (RFC 6587 octet counting), with TLS (RFC 5425) or without. Absent:
 * nothing is sent.
 */
export const syslogSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    protocol: z.enum(['tcp', 'tls']),
    /** PEM CA certificate(s) the collector's certificate must chain to (default: the system's). */
    caFile: z.string().min(1).optional(),
    /** PEM client certificate and key, for collectors that authenticate their senders (mutual TLS). */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Whether a collector certificate that does not verify is refused (default true). */
    rejectUnauthorized: z.boolean().optional(),
    /** Patient IDs replaced by a keyed hash, free text left out, in what is sent (default false). */
    pseudonymize: z.boolean().optional(),
    /** Messages sent per connection before the collector confirms them (default 200). */
    batch: z.number().int().min(1).max(10_000).optional(),
  })
  .strict()
  .refine((s) => (s.certFile === undefined) === (s.keyFile === undefined), {
    message: 'certFile and keyFile go together',
  })
  .refine(
    (s) =>
      s.protocol === 'tls' ||
      (s.caFile ?? s.certFile ?? s.keyFile ?? s.rejectUnauthorized) === undefined,
    { message: 'caFile, certFile, keyFile and rejectUnauthorized are for protocol: tls' },
  );

export interface SyslogConfig {
  host: string;
  port: number;
  protocol: 'tcp' | 'tls';
  /** Absolute paths; null: not configured. */
  caFile: string | null;
  certFile: string | null;
  keyFile: string | null;
  rejectUnauthorized: boolean;
  pseudonymize: boolean;
  batch: number;
}

/** The typed settings, with the files resolved and checked to exist (a typo fails the start). */
export function syslogSettings(s: z.infer<typeof syslogSchema> | undefined): SyslogConfig | null {
  if (!s) return null;
  const file = (key: 'caFile' | 'certFile' | 'keyFile'): string | null => {
    const given = s[key];
    if (given === undefined) return null;
    const path = resolve(given);
    if (!existsSync(path)) {
      throw new ConfigError(`config file: audit.syslog.${key}: ${path} does not exist`);
    }
    return path;
  };
  return {
    host: s.host,
    port: s.port,
    protocol: s.protocol,
    caFile: file('caFile'),
    certFile: file('certFile'),
    keyFile: file('keyFile'),
    rejectUnauthorized: s.rejectUnauthorized ?? true,
    pseudonymize: s.pseudonymize ?? false,
    batch: s.batch ?? 200,
  };
}
