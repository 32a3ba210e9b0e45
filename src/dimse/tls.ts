// DICOM over TLS (PS3.15 B.9, the BCP 195 TLS Secure Transport Connection Profile, and B.10,
// its non-downgrading variant): the TLS settings of the listener and of outgoing associations.
// BCP 195 is RFC 8996 (no TLS below 1.2) and RFC 9325 (in TLS 1.2, only ECDHE key exchange with
// AEAD ciphers; TLS 1.3 suites are all AEAD).

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  checkServerIdentity,
  type ConnectionOptions,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';

/** TLS 1.2 suites (OpenSSL names): ECDHE with AES-GCM or ChaCha20-Poly1305, strongest first. */
export const BCP195_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
] as const;

/** TLS 1.3 suites (all of them AEAD), listed so that the policy does not rest on Node's defaults. */
export const TLS13_CIPHERSUITES = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
] as const;

/** The protocol and cipher settings both sides share. */
export const BCP195_TLS_SETTINGS = {
  minVersion: 'TLSv1.2',
  ciphers: [...TLS13_CIPHERSUITES, ...BCP195_TLS12_CIPHERS].join(':'),
} as const satisfies Pick<TlsOptions, 'minVersion' | 'ciphers'>;

/** The TLS listener's files (absolute paths) and whether a client certificate is required. */
export interface DimseServerTls {
  certFile: string;
  keyFile: string;
  /** PEM bundle of the CAs client certificates must chain to. */
  caFile?: string | null;
  /** Refuse the handshake of clients without a certificate that chains to caFile. */
  requireClientCert?: boolean;
}

/** How an outgoing association connects over TLS. Files absolute; null/absent = not used. */
export interface DimseClientTls {
  /** The CAs the peer's certificate must chain to; absent: the system's. */
  caFile?: string | null;
  /** Our client certificate and key, offered when the peer asks for one. */
  certFile?: string | null;
  keyFile?: string | null;
  /** The name the peer's certificate must carry; absent: the host we connect to. */
  serverName?: string | null;
}

/** What an association's info tells about its TLS session. */
export interface AssociationTls {
  /** 'TLSv1.2' or 'TLSv1.3'. */
  protocol: string;
  /** The negotiated suite (standard name, e.g. TLS_AES_256_GCM_SHA384). */
  cipher: string;
  /** The subject of the verified peer certificate (e.g. 'CN=ct-1,O=Hospital'), when it sent one. */
  peerSubject?: string;
}

/** Options for tls.createServer: our certificate, the BCP 195 policy, client authentication. */
export function serverTlsOptions(t: DimseServerTls): TlsOptions {
  const requireClientCert = t.requireClientCert ?? false;
  if (requireClientCert && !t.caFile) {
    throw new RangeError('requireClientCert needs caFile');
  }
  return {
    ...BCP195_TLS_SETTINGS,
    honorCipherOrder: true,
    cert: readFileSync(t.certFile),
    key: readFileSync(t.keyFile),
    ...(t.caFile ? { ca: readFileSync(t.caFile) } : {}),
    // A certificate is asked for only when it is required. None: the handshake fails. One that
    // does not chain to the CAs: Node closes the connection as the handshake ends, before any
    // DICOM byte is read (the server logs socket.authorizationError).
    requestCert: requireClientCert,
    rejectUnauthorized: requireClientCert,
  };
}

/**
 * Options for tls.connect to a peer: its certificate must chain to caFile (or the system's CAs)
 * and name the host (DNS name or, for an IP address, an IP SAN) or serverName. SNI is sent only
 * with a name, never an address (RFC 6066 3).
 */
export function clientTlsOptions(host: string, t: DimseClientTls): ConnectionOptions {
  const name = t.serverName ?? host;
  return {
    ...BCP195_TLS_SETTINGS,
    ...(t.caFile ? { ca: readFileSync(t.caFile) } : {}),
    ...(t.certFile && t.keyFile
      ? { cert: readFileSync(t.certFile), key: readFileSync(t.keyFile) }
      : {}),
    rejectUnauthorized: true,
    ...(isIP(name) ? {} : { servername: name }),
    // Checked against `name` whatever it is (Node's default looks at `servername || host`).
    checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
  };
}

/** The TLS facts of a connected socket, for AssociationInfo; undefined for plain TCP. */
export function tlsInfo(socket: object): AssociationTls | undefined {
  if (!('encrypted' in socket) || socket.encrypted !== true) return undefined;
  const s = socket as TLSSocket;
  const cipher = s.getCipher();
  const info: AssociationTls = {
    protocol: s.getProtocol() ?? 'unknown',
    cipher: cipher.standardName ?? cipher.name,
  };
  if (s.authorized) {
    const subject = subjectText(s.getPeerCertificate()?.subject);
    if (subject) info.peerSubject = subject;
  }
  return info;
}

/** 'CN=x,O=y' from a certificate subject object (fields with several values joined with '+'). */
function subjectText(subject: object | undefined): string {
  if (!subject) return '';
  return Object.entries(subject as Record<string, string | string[] | undefined>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
}
