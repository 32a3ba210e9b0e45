import { TextDecoder } from 'node:util';
import { isKnownCharsetTerm, planCharset } from './parse-header.js';

/**
 * Text values in both directions under a Specific Character Set (0008,0005): decoding as the
 * header parser does (the same table), and encoding back to bytes for the code that rewrites
 * values (vendor profiles). Encoding is deliberately narrow: the default repertoire takes ASCII
 * only, ISO_IR 192 takes anything, the single-byte sets (Latin-1, Latin-2, Cyrillic, Greek...)
 * take the characters their decoder produces, and the multi-byte and ISO 2022 code-extension
 * sets take ASCII only. Anything else is refused (null), never written as mojibake.
 */

export interface TextCodec {
  /** The Specific Character Set as written (backslash-joined), null when absent or empty. */
  readonly specificCharacterSet: string | null;
  /**
   * A single-byte set other than the default repertoire (Latin-1, Cyrillic...): every byte is
   * some character, so isValid() cannot tell whether text was really written in it.
   */
  readonly singleByte: boolean;
  /** Decodes the bytes of an SH, LO, UC, ST, LT, UT or PN value. */
  decode(bytes: Buffer): string;
  /** The bytes of `text` in this character set; null when it cannot be represented. */
  encode(text: string): Buffer | null;
  /**
   * Whether `bytes` are text this character set can hold: no bytes above 0x7F under the default
   * repertoire, well-formed UTF-8 under ISO_IR 192, no byte without a character in a single-byte
   * set.
   */
  isValid(bytes: Buffer): boolean;
}

/** Decoders without a byte-for-byte single-byte table (or with escape sequences). */
const MULTI_BYTE_LABELS: ReadonlySet<string> = new Set([
  'shift-jis',
  'iso-2022-jp',
  'euc-kr',
  'gbk',
  'gb18030',
  'gb2312',
  'iso-ir-58',
]);

const DEFAULT_TERMS = /^(ISO_IR 6|ISO 2022 IR 6)$/;

const decoders = new Map<string, TextDecoder>();
function decoderFor(label: string, fatal = false): TextDecoder {
  const key = `${label}|${fatal}`;
  let d = decoders.get(key);
  if (!d) {
    d = new TextDecoder(label, { fatal });
    decoders.set(key, d);
  }
  return d;
}

/** Character → byte for a single-byte set, built from its own decoder (so both directions agree). */
const tables = new Map<string, Map<string, number>>();
function singleByteTable(label: string): Map<string, number> {
  let table = tables.get(label);
  if (!table) {
    table = new Map();
    const decoder = decoderFor(label);
    for (let b = 0; b < 256; b++) {
      const ch = decoder.decode(Buffer.from([b]));
      if (ch.length === 1 && ch !== '\ufffd' && !table.has(ch)) table.set(ch, b);
    }
    tables.set(label, table);
  }
  return table;
}

function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- the ASCII range is the point
  return /^[\x00-\x7f]*$/.test(text);
}

export function textCodec(specificCharacterSet: string | null): TextCodec {
  const plan = planCharset(specificCharacterSet);
  const terms = plan.original === null ? [] : plan.original.split('\\').map((t) => t.trim());
  const significant = terms.filter((t) => t !== '' && !DEFAULT_TERMS.test(t));
  const defaultRepertoire = significant.length === 0;
  const utf8 = plan.label === 'utf-8';
  // Code extensions (several terms) need escape sequences this encoder does not write.
  const singleByte =
    !defaultRepertoire && !utf8 && terms.length === 1 && !MULTI_BYTE_LABELS.has(plan.label);
  const decoder = decoderFor(plan.label);
  return {
    specificCharacterSet: plan.original,
    singleByte,
    decode: (bytes) => decoder.decode(bytes),
    encode(text) {
      if (utf8) return Buffer.from(text, 'utf8');
      if (isAscii(text)) return Buffer.from(text, 'latin1');
      if (!singleByte) return null;
      const table = singleByteTable(plan.label);
      const out = Buffer.alloc(text.length);
      let i = 0;
      for (const ch of text) {
        const b = table.get(ch);
        if (b === undefined) return null;
        out[i++] = b;
      }
      return out.subarray(0, i);
    },
    isValid(bytes) {
      if (defaultRepertoire) return !bytes.some((b) => b > 0x7f);
      if (utf8) {
        try {
          decoderFor('utf-8', true).decode(bytes);
          return true;
        } catch {
          return false;
        }
      }
      return !decoder.decode(bytes).includes('\ufffd');
    },
  };
}

/**
 * Whether a Specific Character Set value (backslash-separated defined terms, the first one may
 * be empty) names only character sets Strata knows.
 */
export function isSupportedCharset(value: string): boolean {
  const terms = value.split('\\').map((t) => t.trim());
  if (terms.every((t) => t === '')) return false;
  return terms.every((t, i) => (t === '' ? i === 0 : isKnownCharsetTerm(t)));
}
