/**
 * RFC 5424 syslog messages and RFC 6587 octet-counting framing (the framing RFC 5425 requires
 * over TLS, and the one plain TCP needs for messages that may hold anything).
 */
export interface SyslogHeader {
  /** 0-23; 10 is security/authorization (IHE ATNA's choice for audit messages). */
  facility: number;
  /** 0-7; 5 notice, 4 warning. */
  severity: number;
  /** RFC 3339 time with a time zone, e.g. 2026-03-04T05:06:07.089Z. */
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string | null;
  msgId: string;
}

/** One SD-ELEMENT: an SD-ID (name@enterprise-number for private ones) and its parameters. */
export interface StructuredDataElement {
  id: string;
  params: [name: string, value: string][];
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * HEADER SP STRUCTURED-DATA SP MSG, the MSG as UTF-8 with its BOM (MSG-UTF8), as the RFC asks of
 * a message whose text is Unicode.
 */
export function syslogMessage(h: SyslogHeader, sd: StructuredDataElement[], msg: string): Buffer {
  const pri = h.facility * 8 + h.severity;
  const header = [
    `<${pri}>1`,
    h.timestamp,
    field(h.hostname, 255),
    field(h.appName, 48),
    field(h.procId, 128),
    field(h.msgId, 32),
  ].join(' ');
  const structured = sd.length === 0 ? '-' : sd.map(element).join('');
  return Buffer.concat([
    Buffer.from(`${header} ${structured} `, 'utf8'),
    BOM,
    Buffer.from(msg, 'utf8'),
  ]);
}

/** Octet counting (RFC 6587 3.4.1): MSG-LEN SP SYSLOG-MSG. */
export function octetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}

/** A header field: printable US-ASCII (33-126), at most `max` characters; empty is NILVALUE. */
function field(value: string | null, max: number): string {
  if (value === null || value === '') return '-';
  return value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
}

function element(e: StructuredDataElement): string {
  const params = e.params.map(([k, v]) => ` ${sdName(k)}="${v.replace(/(["\\\]])/g, '\\$1')}"`);
  return `[${sdName(e.id)}${params.join('')}]`;
}

/** SD-NAME: 1-32 printable US-ASCII except '=', SP, ']' and '"'. */
function sdName(name: string): string {
  return name.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32);
}
