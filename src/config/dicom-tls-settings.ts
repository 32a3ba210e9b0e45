import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.js';

/** The port IANA registered for DICOM over TLS ("dicom-tls"). */
export const DICOM_TLS_DEFAULT_PORT = 2762;

/**
 * `dicom.tls` in the config file: a second association listener, DICOM over TLS (PS3.15 B.9,
 * the BCP 195 TLS Secure Transport Connection Profile), beside the plain port. Absent: none.
 */
export const dicomTlsSchema = z
  .object({
    /** Default 2762 (dicom-tls); 0 picks a free port (tests). STRATA_DICOM_TLS_PORT overrides. */
    port: z.number().int().min(0).max(65535).optional(),
    /** Bind address; default STRATA_BIND_HOST, like the plain port. */
    host: z.string().min(1).optional(),
    /** PEM: the archive's certificate (then any intermediates), and its unencrypted private key. */
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    /**
     * PEM bundle of the CAs that client certificates must chain to, and that peers' certificates
     * are checked against on outgoing TLS associations (default there: the system's CAs).
     */
    caFile: z.string().min(1).optional(),
    /** Refuse clients without a certificate that chains to caFile (default false). */
    requireClientCert: z.boolean().optional(),
  })
  .strict()
  .refine((t) => !t.requireClientCert || t.caFile !== undefined, {
    message: 'requireClientCert needs caFile (the CAs client certificates must chain to)',
    path: ['caFile'],
  });

/**
 * `dicom.peers.<AE>.tls`: associations the archive opens to that peer (C-MOVE destination,
 * Storage Commitment reports, pulls) use TLS. `true` takes dicom.tls's caFile, certFile and
 * keyFile (the archive's certificate is its client certificate); an object overrides them.
 */
export const peerTlsSchema = z.union([
  z.boolean(),
  z
    .object({
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** The name the peer's certificate must carry, when `host` is not it (an IP address...). */
      serverName: z.string().min(1).optional(),
    })
    .strict()
    .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
      message: 'certFile and keyFile go together',
    }),
]);

export interface DicomTlsConfig {
  host: string;
  port: number;
  /** Absolute paths, checked at load: readable PEM, the key matching the certificate. */
  certFile: string;
  keyFile: string;
  caFile: string | null;
  requireClientCert: boolean;
}

/** How the archive connects to a TLS peer. Files absolute and checked; null = not used. */
export interface DicomPeerTls {
  /** null: the system's CAs. */
  caFile: string | null;
  /** The client certificate offered when the peer asks for one; null: none. */
  certFile: string | null;
  keyFile: string | null;
  /** null: the peer's certificate must name `host` (its DNS name or IP address). */
  serverName: string | null;
}

/** `dicom.tls`, with its files resolved, read and checked; null when not configured. */
export function dicomTlsSettings(
  t: z.infer<typeof dicomTlsSchema> | undefined,
  defaultHost: string,
  envPort: number | undefined,
): DicomTlsConfig | null {
  if (!t) {
    if (envPort !== undefined) {
      throw new ConfigError(
        'STRATA_DICOM_TLS_PORT: set, but the config file has no dicom.tls (certFile, keyFile)',
      );
    }
    return null;
  }
  const files = checkTlsFiles('dicom.tls', t);
  return {
    host: t.host ?? defaultHost,
    port: envPort ?? t.port ?? DICOM_TLS_DEFAULT_PORT,
    certFile: files.certFile!,
    keyFile: files.keyFile!,
    caFile: files.caFile,
    requireClientCert: t.requireClientCert ?? false,
  };
}

/** A peer's `tls`, its files defaulting to dicom.tls's; null: plain TCP. */
export function peerTlsSettings(
  aeTitle: string,
  p: z.infer<typeof peerTlsSchema> | undefined,
  server: DicomTlsConfig | null,
): DicomPeerTls | null {
  if (p === undefined || p === false) return null;
  const given = p === true ? {} : p;
  const own = checkTlsFiles(`dicom.peers.${aeTitle}.tls`, given);
  const cert =
    own.certFile !== null
      ? { certFile: own.certFile, keyFile: own.keyFile }
      : { certFile: server?.certFile ?? null, keyFile: server?.keyFile ?? null };
  return {
    caFile: own.caFile ?? server?.caFile ?? null,
    ...cert,
    serverName: p === true ? null : (p.serverName ?? null),
  };
}

/**
 * Reads each given file: certFile must hold PEM certificates, keyFile an unencrypted PEM private
 * key that matches certFile's first certificate, caFile PEM certificates. Errors name the key.
 */
export function checkTlsFiles(
  prefix: string,
  t: { certFile?: string; keyFile?: string; caFile?: string },
): { certFile: string | null; keyFile: string | null; caFile: string | null } {
  const read = (key: 'certFile' | 'keyFile' | 'caFile'): { path: string; text: string } | null => {
    const given = t[key];
    if (given === undefined) return null;
    const path = resolve(given);
    try {
      return { path, text: readFileSync(path, 'utf8') };
    } catch (e) {
      throw new ConfigError(
        `config file: ${prefix}.${key}: cannot read ${path} (${(e as Error).message})`,
      );
    }
  };
  const cert = read('certFile');
  const key = read('keyFile');
  const ca = read('caFile');
  let leaf: X509Certificate | null = null;
  if (cert) leaf = certificates(`${prefix}.certFile`, cert)[0]!;
  if (ca) certificates(`${prefix}.caFile`, ca);
  if (key) {
    let keyObject: KeyObject;
    try {
      keyObject = createPrivateKey(key.text);
    } catch (e) {
      throw new ConfigError(
        `config file: ${prefix}.keyFile: ${key.path} is not an unencrypted PEM private key (${(e as Error).message})`,
      );
    }
    if (leaf && !leaf.checkPrivateKey(keyObject)) {
      throw new ConfigError(
        `config file: ${prefix}.keyFile: ${key.path} is not the key of the certificate in ${prefix}.certFile`,
      );
    }
  }
  return { certFile: cert?.path ?? null, keyFile: key?.path ?? null, caFile: ca?.path ?? null };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every PEM certificate in the file (at least one), parsed. */
function certificates(key: string, file: { path: string; text: string }): X509Certificate[] {
  const blocks = file.text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(`config file: ${key}: ${file.path} holds no PEM certificate`);
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new ConfigError(
        `config file: ${key}: certificate ${i + 1} in ${file.path} is not valid (${(e as Error).message})`,
      );
    }
  });
}
