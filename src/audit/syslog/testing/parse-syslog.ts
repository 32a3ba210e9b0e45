/** Tests only: an RFC 5424 message parsed back (strictly: anything off the grammar throws). */
export interface ParsedSyslog {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: Record<string, Record<string, string>>;
  /** Whether MSG started with the UTF-8 BOM. */
  bom: boolean;
  msg: string;
}

export function parseSyslog(message: Buffer | string): ParsedSyslog {
  const text = Buffer.isBuffer(message) ? message.toString('utf8') : message;
  const m = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!m) throw new Error(`not an RFC 5424 header: ${JSON.stringify(text.slice(0, 80))}`);
  let i = m[0].length;
  const sd: ParsedSyslog['sd'] = {};
  if (text[i] === '-') {
    i++;
  } else {
    while (text[i] === '[') {
      const id = /^\[([^ =\]"]{1,32})/.exec(text.slice(i));
      if (!id) throw new Error('bad SD-ID');
      i += id[0].length;
      const params: Record<string, string> = {};
      while (text[i] === ' ') {
        const name = /^ ([^ =\]"]{1,32})="/.exec(text.slice(i));
        if (!name) throw new Error('bad SD-PARAM');
        i += name[0].length;
        let value = '';
        while (text[i] !== '"') {
          if (i >= text.length) throw new Error('unterminated SD-PARAM');
          if (text[i] === '\\' && ['"', '\\', ']'].includes(text[i + 1]!)) i++;
          value += text[i++];
        }
        i++;
        params[name[1]!] = value;
      }
      if (text[i] !== ']') throw new Error('SD-ELEMENT not closed');
      i++;
      sd[id[1]!] = params;
    }
  }
  let msg = '';
  if (i < text.length) {
    if (text[i] !== ' ') throw new Error('SP expected before MSG');
    msg = text.slice(i + 1);
  }
  const bom = msg.startsWith('\uFEFF');
  return {
    pri: Number(m[1]),
    timestamp: m[2]!,
    hostname: m[3]!,
    appName: m[4]!,
    procId: m[5]!,
    msgId: m[6]!,
    sd,
    bom,
    msg: bom ? msg.slice(1) : msg,
  };
}

/** Splits an octet-counted stream (RFC 6587 3.4.1) into its messages; throws on a broken frame. */
export function splitOctetCounted(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < stream.length) {
    const space = stream.indexOf(0x20, i);
    const len = Number(stream.subarray(i, space).toString('ascii'));
    if (space < 0 || !Number.isInteger(len) || len <= 0) throw new Error(`bad frame at ${i}`);
    if (space + 1 + len > stream.length) throw new Error(`truncated frame at ${i}`);
    out.push(stream.subarray(space + 1, space + 1 + len));
    i = space + 1 + len;
  }
  return out;
}
