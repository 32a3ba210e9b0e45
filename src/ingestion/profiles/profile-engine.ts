import {
  datasetEncoding,
  keywordOf,
  lookupAttribute,
  textCodec,
  type TextCodec,
} from '../../dicom/index.js';
import {
  type ByteEncoding,
  decodeTags,
  elementHeader,
  encodeElement,
  encodeItem,
  encodeSequence,
  encodeTags,
  padded,
  type RawElement,
  SpliceError,
  walkElements,
  walkItems,
  withLength,
} from './dataset-bytes.js';
import {
  type AttributeRef,
  type ModificationCode,
  type PrivateRef,
  type ProfileChange,
  type ProfileRule,
  type VendorProfile,
  type When,
} from './profile-model.js';

/**
 * Applies a vendor profile to the header of one instance, at the byte level: the elements a rule
 * changes are re-encoded, and every other byte stays exactly as received (sequences of undefined
 * length, private blocks, odd vendor encodings included). Each application adds one item to
 * Original Attributes Sequence (0400,0561) (PS3.3 C.12.1), holding in its Modified Attributes
 * Sequence (0400,0550) the original elements, byte for byte, of every attribute changed or
 * removed, and a zero-length element for every attribute that was absent and added. A private
 * block in the item (creator 'STRATA PROFILE') names the profile, gives the reasons as text and
 * lists the added attributes, so that restoreOriginals() can rebuild the original header exactly.
 *
 * Pure: bytes and a profile in, bytes and a list of changes out. Failures are ProfileApplyError
 * with a message free of patient data (it names rules and attributes, never values).
 */

export class ProfileApplyError extends Error {
  override readonly name = 'ProfileApplyError';
}

export interface ApplyContext {
  /** The source the instance came from: Source of Previous Values (0400,0564). */
  source: string;
  /** Attribute Modification DateTime (0400,0562). */
  now: Date;
  /** The bulk element ('GGGGEEEE') the captured header stops at, if any: nothing after it moves. */
  bulkTag?: string | null;
}

export interface ProfileOutcome {
  /** The new header; the very same Buffer when nothing changed. */
  headerBytes: Buffer;
  /** What changed, rule by rule (values decoded; empty when nothing changed). */
  changes: ProfileChange[];
  /** Top-level elements changed, added or removed (Original Attributes Sequence not counted). */
  changedAttributes: number;
  /** Reason for the Attribute Modification recorded; null when nothing changed. */
  code: ModificationCode | null;
}

/** Modifying System (0400,0563). */
export const MODIFYING_SYSTEM = 'STRATA';
/** The private creator of Strata's block in each Original Attributes Sequence item. */
export const PRIVATE_CREATOR = 'STRATA PROFILE';
const PRIVATE_GROUP = 0x0009;
const PRIVATE_SLOT = 0x10;
const ITEM_PROFILE = 0x01;
const ITEM_REASONS = 0x02;
const ITEM_ADDED = 0x03;
const ITEM_FLAGS = 0x04;
const CREATED_FLAG = 'CREATED';

const SPECIFIC_CHARACTER_SET = 0x00080005;
const ACCESSION_NUMBER = 0x00080050;
const PATIENT_ID = 0x00100020;
const ISSUER_OF_PATIENT_ID = 0x00100021;
const ORIGINAL_ATTRIBUTES = 0x04000561;
const MODIFIED_ATTRIBUTES = 0x04000550;
const MODIFICATION_DATETIME = 0x04000562;
const MODIFYING_SYSTEM_TAG = 0x04000563;
const SOURCE_OF_PREVIOUS_VALUES = 0x04000564;
const MODIFICATION_REASON = 0x04000565;

const CHARSET_VRS: ReadonlySet<string> = new Set('SH LO UC ST LT UT PN'.split(' '));
const TEXT_VRS: ReadonlySet<string> = new Set(
  'AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT'.split(' '),
);
const SINGLE_VALUED: ReadonlySet<string> = new Set('LT ST UT UR'.split(' '));
/** Most characters per value (PS3.5 Table 6.2-1); PN per component group. */
const MAX_CHARS: Record<string, number> = {
  AE: 16,
  AS: 4,
  CS: 16,
  DA: 8,
  DS: 16,
  DT: 26,
  IS: 12,
  LO: 64,
  LT: 10240,
  PN: 64,
  SH: 16,
  ST: 1024,
  TM: 14,
  UI: 64,
};

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f]/;

function tagText(tag: number): string {
  const h = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}

function tagKey(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}

function encodingOf(transferSyntaxUid: string): ByteEncoding {
  const e = datasetEncoding(transferSyntaxUid);
  return { explicitVr: e.explicitVr, littleEndian: e.littleEndian };
}

/** Trailing padding (spaces, NULs) is not part of a value. */
function unpad(s: string): string {
  return s.replace(/[\0 ]+$/, '');
}

/** Why `text` is not a valid value of `vr`, or null. */
function invalidFor(text: string, vr: string): string | null {
  const values = SINGLE_VALUED.has(vr) ? [text] : text.split('\\');
  for (const v of values) {
    const max = MAX_CHARS[vr];
    if (vr === 'PN') {
      if (v.split('=').some((g) => g.length > 64))
        return 'a PN component group is at most 64 characters';
    } else if (max !== undefined && v.length > max) {
      return `a ${vr} value is at most ${max} characters`;
    }
    if (!CHARSET_VRS.has(vr) && !/^[\x20-\x7e]*$/.test(v)) {
      return `a ${vr} value holds printable ASCII characters only`;
    }
    const control = CONTROL.test(v) || (!SINGLE_VALUED.has(vr) && /[\r\n\t\f]/.test(v));
    if (control) return `a ${vr} value cannot hold control characters`;
    if (vr === 'CS' && !/^[A-Z0-9 _]*$/.test(v)) {
      return 'a CS value holds upper-case letters, digits, space and underscore only';
    }
    if (vr === 'UI' && !/^[0-9.]*$/.test(v)) return 'a UI value holds digits and dots only';
    if (vr === 'DA' && !/^(\d{8})?$/.test(v)) return 'a DA value is YYYYMMDD';
  }
  return null;
}

interface Current {
  /** The whole encoded element. */
  bytes: Buffer;
  vr: string;
  /** The value; null for undefined length. */
  value: Buffer | null;
}

/** The header being rewritten: the original elements and what the rules did to them. */
class Working {
  readonly elements: RawElement[];
  readonly byTag = new Map<number, RawElement>();
  /** Elements changed (encoded anew), added, or removed (null). */
  readonly changed = new Map<number, Current | null>();
  codec: TextCodec;

  constructor(
    readonly bytes: Buffer,
    readonly enc: ByteEncoding,
    readonly bulkTag: number | null,
    readonly fail: (message: string) => never,
  ) {
    this.elements = walkElements(bytes, enc).elements;
    for (const e of this.elements) this.byTag.set(e.tag, e);
    this.codec = textCodec(this.charset());
  }

  /** The element as it stands now, or null when absent. */
  get(tag: number): Current | null {
    if (this.changed.has(tag)) return this.changed.get(tag)!;
    const e = this.byTag.get(tag);
    if (!e) return null;
    return {
      bytes: this.bytes.subarray(e.start, e.end),
      // Implicit VR says nothing, and a standard attribute sent as UN is still what the
      // dictionary says it is: read (and rewrite) it with its dictionary VR.
      vr: e.vr && e.vr !== 'UN' ? e.vr : (lookupAttribute(tagKey(tag))?.vr ?? 'UN'),
      value:
        e.valueLength === null
          ? null
          : this.bytes.subarray(e.valueStart, e.valueStart + e.valueLength),
    };
  }

  /** The value as text (padding removed), or null when the attribute is absent. */
  text(tag: number): string | null {
    const el = this.get(tag);
    if (!el) return null;
    if (el.value === null || !TEXT_VRS.has(el.vr)) {
      this.fail(
        `${keywordOf(tag) ?? 'the attribute'} ${tagText(tag)} is not a text value here (VR ${el.vr})`,
      );
    }
    return unpad(
      CHARSET_VRS.has(el.vr) ? this.codec.decode(el.value) : el.value.toString('latin1'),
    );
  }

  /**
   * The value of a private element as text, found through its creator; null when the creator or
   * the element is absent. Implicit VR (and UN) values are read as text in the data set's
   * character set; an explicit VR that is not text is refused.
   */
  privateText(ref: PrivateRef): string | null {
    for (const e of this.elements) {
      const element = e.tag & 0xffff;
      if (e.tag >>> 16 !== ref.group || element < 0x10 || element > 0xff) continue;
      const creator = this.get(e.tag);
      if (!creator?.value) continue;
      if (unpad(creator.value.toString('latin1')).trim() !== ref.creator) continue;
      const tag = ((ref.group << 16) | (element << 8) | ref.offset) >>> 0;
      const el = this.get(tag);
      if (!el) return null;
      const vr = this.enc.explicitVr ? el.vr : 'UN';
      if (el.value === null || (vr !== 'UN' && !TEXT_VRS.has(vr))) {
        this.fail(`the private element ${ref.label} is not a text value here (VR ${vr})`);
      }
      return unpad(
        vr === 'UN' || CHARSET_VRS.has(vr)
          ? this.codec.decode(el.value)
          : el.value.toString('latin1'),
      );
    }
    return null;
  }

  /** The declared Specific Character Set (backslash-joined, trimmed), null when absent or empty. */
  charset(): string | null {
    const el = this.get(SPECIFIC_CHARACTER_SET);
    if (!el?.value) return null;
    const raw = unpad(el.value.toString('latin1'));
    const terms = raw.split('\\').map((t) => t.trim());
    return terms.every((t) => t === '') ? null : terms.join('\\');
  }

  write(attribute: AttributeRef, text: string, what: string): void {
    const tag = attribute.tag;
    this.checkPosition(tag, what);
    const existing = this.get(tag);
    const vr = existing && this.enc.explicitVr ? existing.vr : attribute.vr;
    const invalid = invalidFor(text, vr);
    if (invalid) this.fail(`${what}: the new ${attribute.keyword} value is not valid: ${invalid}`);
    let value: Buffer | null;
    if (CHARSET_VRS.has(vr)) {
      value = this.codec.encode(text);
      if (value === null) {
        this.fail(
          `${what}: the new ${attribute.keyword} value cannot be written in the data set's character set (${this.codec.specificCharacterSet ?? 'the default repertoire, ASCII'})`,
        );
      }
    } else {
      value = Buffer.from(text, 'latin1');
    }
    const v = padded(value, vr);
    let header: Buffer;
    try {
      header = elementHeader(tag, vr, v.length, this.enc);
    } catch (error) {
      return this.fail(`${what}: ${(error as Error).message}`);
    }
    this.changed.set(tag, { bytes: Buffer.concat([header, v]), vr, value: v });
  }

  remove(tag: number, what: string): void {
    this.checkPosition(tag, what);
    this.changed.set(tag, null);
  }

  /** Nothing after the bulk element is in the captured header: it cannot be changed. */
  checkPosition(tag: number, what: string): void {
    if (this.bulkTag !== null && tag >= this.bulkTag) {
      this.fail(
        `${what}: ${keywordOf(tag) ?? 'the attribute'} ${tagText(tag)} comes after the bulk element ${tagText(this.bulkTag)} of this instance and cannot be changed`,
      );
    }
  }

  /** Whether an element's final state differs from the original. */
  differs(tag: number): boolean {
    if (!this.changed.has(tag)) return false;
    const now = this.changed.get(tag)!;
    const e = this.byTag.get(tag);
    if (!now || !e) return now !== null || e !== undefined;
    return !now.bytes.equals(this.bytes.subarray(e.start, e.end));
  }
}

function shouldWrite(when: When, current: string | null): boolean {
  if (when === 'always') return true;
  if (when === 'absent') return current === null;
  return current === null || current.trim() === '';
}

/**
 * Applies `profile` to a header (the data set bytes before the bulk element, in `transferSyntaxUid`;
 * inflated, for a deflated syntax). Throws ProfileApplyError when a rule cannot be applied, or
 * when the header cannot be rewritten safely (malformed, elements out of order...).
 */
export function applyProfile(
  profile: VendorProfile,
  headerBytes: Buffer,
  transferSyntaxUid: string,
  ctx: ApplyContext,
): ProfileOutcome {
  const enc = encodingOf(transferSyntaxUid);
  const fail = (message: string): never => {
    throw new ProfileApplyError(`profile '${profile.name}': ${message}`);
  };
  let w: Working;
  try {
    w = new Working(headerBytes, enc, ctx.bulkTag ? parseInt(ctx.bulkTag, 16) >>> 0 : null, fail);
  } catch (error) {
    if (error instanceof SpliceError) fail(error.message);
    throw error;
  }
  const changes: ProfileChange[] = [];
  const codes = new Map<number, ModificationCode[]>();
  const reasons = new Map<number, string[]>();
  const record = (
    rule: ProfileRule,
    tag: number,
    keyword: string,
    before: string | null,
    after: string | null,
  ) => {
    changes.push({
      tag: tagKey(tag),
      keyword,
      rule: rule.kind,
      ruleIndex: rule.index,
      before,
      after,
      reason: rule.reason,
    });
    codes.set(tag, [...(codes.get(tag) ?? []), rule.code]);
    const list = reasons.get(tag) ?? [];
    if (!list.includes(rule.reason)) list.push(rule.reason);
    reasons.set(tag, list);
  };
  const setText = (rule: ProfileRule, attribute: AttributeRef, next: string) => {
    const before = w.text(attribute.tag);
    if (before === next) return;
    w.write(attribute, next, `rule ${rule.index} (${rule.kind})`);
    record(rule, attribute.tag, attribute.keyword ?? tagText(attribute.tag), before, next);
  };

  // Character set repairs first: every other rule reads and writes text through the result.
  const ordered = [
    ...profile.rules.filter((r) => r.kind === 'charset'),
    ...profile.rules.filter((r) => r.kind !== 'charset'),
  ];
  for (const rule of ordered) {
    applyRule(rule, w, setText, record, fail);
  }

  const changedTags = [...w.changed.keys()].filter((t) => w.differs(t)).sort((a, b) => a - b);
  if (changedTags.length === 0) {
    return { headerBytes, changes: [], changedAttributes: 0, code: null };
  }
  const changedSet = new Set(changedTags);
  // Private block removals are recorded under their creator; keep those whose creator went.
  const kept = changes.filter((c) => changedSet.has(parseInt(c.tag, 16) >>> 0));
  const allCodes = changedTags.flatMap((t) => codes.get(t) ?? []);
  const code: ModificationCode = allCodes.every((c) => c === 'CORRECT') ? 'CORRECT' : 'COERCE';

  w.checkPosition(ORIGINAL_ATTRIBUTES, 'recording the original values');
  const item = originalAttributesItem(w, changedTags, reasons, profile.name, code, ctx);
  const oas = w.byTag.get(ORIGINAL_ATTRIBUTES);
  let oasBytes: Buffer;
  if (!oas) {
    oasBytes = encodeSequence(ORIGINAL_ATTRIBUTES, [item(true)], enc);
  } else {
    if (enc.explicitVr && oas.vr !== 'SQ') {
      fail(
        `Original Attributes Sequence ${tagText(ORIGINAL_ATTRIBUTES)} is not a sequence (VR ${oas.vr})`,
      );
    }
    oasBytes = appendItem(headerBytes, oas, item(false), enc);
  }
  const replacements = new Map<number, Buffer | null>();
  for (const t of changedTags) replacements.set(t, w.changed.get(t)?.bytes ?? null);
  replacements.set(ORIGINAL_ATTRIBUTES, oasBytes);
  return {
    headerBytes: rebuild(headerBytes, w.elements, replacements),
    changes: kept,
    changedAttributes: changedTags.length,
    code,
  };
}

type SetText = (rule: ProfileRule, attribute: AttributeRef, next: string) => void;
type RecordChange = (
  rule: ProfileRule,
  tag: number,
  keyword: string,
  before: string | null,
  after: string | null,
) => void;

const ATTR = (tag: number): AttributeRef => {
  const info = lookupAttribute(tagKey(tag))!;
  return { tag, key: info.key, keyword: info.keyword, vr: info.vr };
};

function applyRule(
  rule: ProfileRule,
  w: Working,
  setText: SetText,
  record: RecordChange,
  fail: (message: string) => never,
): void {
  const what = `rule ${rule.index} (${rule.kind})`;
  switch (rule.kind) {
    case 'set': {
      if (shouldWrite(rule.when, w.text(rule.attribute.tag)))
        setText(rule, rule.attribute, rule.value);
      return;
    }
    case 'remove': {
      const before = w.text(rule.attribute.tag);
      if (before === null) return;
      w.remove(rule.attribute.tag, what);
      record(
        rule,
        rule.attribute.tag,
        rule.attribute.keyword ?? tagText(rule.attribute.tag),
        before,
        null,
      );
      return;
    }
    case 'copy': {
      const value = 'tag' in rule.from ? w.text(rule.from.tag) : w.privateText(rule.from);
      if (value === null || value.trim() === '') return;
      if (shouldWrite(rule.when, w.text(rule.to.tag))) setText(rule, rule.to, value);
      return;
    }
    case 'map': {
      const value = w.text(rule.attribute.tag);
      if (value === null) return;
      const key = rule.ignoreCase ? value.trim().toUpperCase() : value.trim();
      const next = rule.values.get(key);
      if (next !== undefined) setText(rule, rule.attribute, next);
      return;
    }
    case 'regex': {
      const value = w.text(rule.attribute.tag);
      if (value === null) return;
      rule.pattern.lastIndex = 0;
      setText(rule, rule.attribute, value.replace(rule.pattern, rule.replacement));
      return;
    }
    case 'patientId': {
      if (rule.prefix !== null) {
        const id = w.text(PATIENT_ID);
        if (id !== null && id.trim() !== '' && !id.startsWith(rule.prefix)) {
          setText(rule, ATTR(PATIENT_ID), `${rule.prefix}${id}`);
        }
      }
      if (rule.issuer !== null && shouldWrite(rule.issuerWhen, w.text(ISSUER_OF_PATIENT_ID))) {
        setText(rule, ATTR(ISSUER_OF_PATIENT_ID), rule.issuer);
      }
      return;
    }
    case 'removePrivate': {
      removePrivateBlocks(rule, w, record, what);
      return;
    }
    case 'charset': {
      repairCharset(rule, w, setText, fail, what);
      return;
    }
    case 'accession': {
      const value = w.text(ACCESSION_NUMBER);
      if (value === null || value.trim() === '') return;
      let v = value;
      if (rule.trim) v = v.trim();
      if (rule.uppercase) v = v.toUpperCase();
      for (const prefix of rule.stripPrefixes) {
        const p = rule.uppercase ? prefix.toUpperCase() : prefix;
        if (v.startsWith(p) && v.length > p.length) {
          v = v.slice(p.length);
          break;
        }
      }
      if (rule.stripLeadingZeros) v = v.replace(/^0+(?=.)/, '');
      if (v.length > rule.maxLength) {
        if (rule.tooLong === 'refuse') {
          fail(
            `${what}: the normalised AccessionNumber is longer than ${rule.maxLength} characters`,
          );
        }
        v = rule.tooLong === 'keep-start' ? v.slice(0, rule.maxLength) : v.slice(-rule.maxLength);
      }
      setText(rule, ATTR(ACCESSION_NUMBER), v);
      return;
    }
  }
}

function removePrivateBlocks(
  rule: Extract<ProfileRule, { kind: 'removePrivate' }>,
  w: Working,
  record: RecordChange,
  what: string,
): void {
  for (const e of w.elements) {
    const group = e.tag >>> 16;
    const element = e.tag & 0xffff;
    if (group % 2 === 0 || group <= 0x0008 || element < 0x10 || element > 0xff) continue;
    if (rule.groups !== null && !rule.groups.includes(group)) continue;
    if (e.valueLength === null || w.changed.get(e.tag) === null) continue;
    const creator = unpad(
      w.bytes.toString('latin1', e.valueStart, e.valueStart + e.valueLength),
    ).trim();
    if (!rule.creators.includes(creator)) continue;
    const first = ((group << 16) | (element << 8)) >>> 0;
    const last = (first | 0xff) >>> 0;
    if (w.bulkTag !== null && w.bulkTag >= first && w.bulkTag <= last) {
      w.checkPosition(w.bulkTag, what);
    }
    const block = w.elements.filter((x) => x.tag >= first && x.tag <= last);
    w.remove(e.tag, what);
    for (const x of block) w.remove(x.tag, what);
    record(
      rule,
      e.tag,
      `private block '${creator}' ${tagText(first).replace(/..\)$/, 'xx)')}`,
      `${block.length + 1} element(s)`,
      null,
    );
  }
}

function repairCharset(
  rule: Extract<ProfileRule, { kind: 'charset' }>,
  w: Working,
  setText: SetText,
  fail: (message: string) => never,
  what: string,
): void {
  const declared = w.charset();
  const textValues: Buffer[] = [];
  for (const e of w.elements) {
    const el = w.get(e.tag);
    if (el?.value && CHARSET_VRS.has(el.vr)) textValues.push(el.value);
  }
  const holds = (codec: TextCodec) => textValues.every((v) => codec.isValid(v));
  const current = textCodec(declared);
  let next: string | null = null;
  if (declared === null && rule.assume !== null) {
    if (!holds(current)) next = rule.assume;
  } else if (declared !== null && rule.with !== null) {
    const normal = (s: string) =>
      s
        .split('\\')
        .map((t) => t.trim())
        .join('\\');
    if (rule.replace.map(normal).includes(declared) && (current.singleByte || !holds(current))) {
      next = rule.with;
    }
  }
  if (next === null || next === declared) return;
  const codec = textCodec(next);
  if (!holds(codec)) {
    fail(
      `${what}: the text of this instance is not valid in '${next}' either; nothing was repaired`,
    );
  }
  setText(rule, ATTR(SPECIFIC_CHARACTER_SET), next);
  w.codec = codec;
}

/**
 * The new Original Attributes Sequence item: the original elements in Modified Attributes
 * Sequence, when and by whom and why, and Strata's private block. `created` says whether the
 * item starts the sequence (restoreOriginals then removes the whole sequence).
 */
function originalAttributesItem(
  w: Working,
  changedTags: number[],
  reasons: Map<number, string[]>,
  profileName: string,
  code: ModificationCode,
  ctx: ApplyContext,
): (created: boolean) => Buffer {
  const enc = w.enc;
  const modified: Buffer[] = [];
  const added: number[] = [];
  for (const tag of changedTags) {
    const e = w.byTag.get(tag);
    if (e) {
      modified.push(w.bytes.subarray(e.start, e.end));
    } else {
      added.push(tag);
      const now = w.changed.get(tag)!;
      modified.push(encodeElement(tag, now.vr, Buffer.alloc(0), enc));
    }
  }
  const lines: string[] = [];
  for (const tag of changedTags) {
    const why = reasons.get(tag);
    if (!why) continue;
    lines.push(`${keywordOf(tag) ?? 'private block'} ${tagText(tag)}: ${why.join('; ')}`);
  }
  let reasonText = lines.join('\r\n');
  if (reasonText.length > 10240) reasonText = `${reasonText.slice(0, 10237)}...`;
  const text = (s: string): Buffer => encodeLossy(w.codec, s);
  const priv = (element: number) => ((PRIVATE_GROUP << 16) | (PRIVATE_SLOT << 8) | element) >>> 0;
  const stamp = dicomDateTime(ctx.now);
  return (created) => {
    const elements: Buffer[] = [
      encodeElement(
        ((PRIVATE_GROUP << 16) | PRIVATE_SLOT) >>> 0,
        'LO',
        Buffer.from(PRIVATE_CREATOR),
        enc,
      ),
      encodeElement(priv(ITEM_PROFILE), 'LO', Buffer.from(profileName, 'latin1'), enc),
      encodeElement(priv(ITEM_REASONS), 'LT', text(reasonText), enc),
    ];
    if (added.length > 0)
      elements.push(encodeElement(priv(ITEM_ADDED), 'AT', encodeTags(added, enc), enc));
    if (created)
      elements.push(encodeElement(priv(ITEM_FLAGS), 'CS', Buffer.from(CREATED_FLAG), enc));
    elements.push(
      encodeSequence(MODIFIED_ATTRIBUTES, [encodeItem(Buffer.concat(modified), enc)], enc),
      encodeElement(MODIFICATION_DATETIME, 'DT', Buffer.from(stamp), enc),
      encodeElement(MODIFYING_SYSTEM_TAG, 'LO', Buffer.from(MODIFYING_SYSTEM), enc),
      encodeElement(SOURCE_OF_PREVIOUS_VALUES, 'LO', text(ctx.source.slice(0, 64)), enc),
      encodeElement(MODIFICATION_REASON, 'CS', Buffer.from(code), enc),
    );
    return encodeItem(Buffer.concat(elements), enc);
  };
}

/** Text in the data set's character set, with '?' for what it cannot hold (commentary only). */
function encodeLossy(codec: TextCodec, s: string): Buffer {
  const whole = codec.encode(s);
  if (whole) return whole;
  return Buffer.concat([...s].map((ch) => codec.encode(ch) ?? Buffer.from('?')));
}

/** DT in UTC: YYYYMMDDHHMMSS.FFFFFF+0000 (26 characters, even). */
function dicomDateTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.` +
    `${p(d.getUTCMilliseconds(), 3)}000+0000`
  );
}

/** The sequence element `oas` of `bytes` with `item` added at its end. */
function appendItem(bytes: Buffer, oas: RawElement, item: Buffer, enc: ByteEncoding): Buffer {
  const header = bytes.subarray(oas.start, oas.valueStart);
  if (oas.valueLength === null) {
    // Undefined length: the new item goes before the sequence delimiter (the last 8 bytes).
    return Buffer.concat([
      bytes.subarray(oas.start, oas.end - 8),
      item,
      bytes.subarray(oas.end - 8, oas.end),
    ]);
  }
  return Buffer.concat([
    withLength(header, oas.valueLength + item.length, enc),
    bytes.subarray(oas.valueStart, oas.end),
    item,
  ]);
}

/**
 * The header with some top-level elements replaced (Buffer: the new element), removed (null) or
 * added (a tag not in `elements`), in ascending tag order; every other byte copied as it was.
 */
function rebuild(
  bytes: Buffer,
  elements: readonly RawElement[],
  replacements: ReadonlyMap<number, Buffer | null>,
): Buffer {
  const originalTags = new Set(elements.map((e) => e.tag));
  const additions = [...replacements.entries()]
    .filter(([t, b]) => !originalTags.has(t) && b !== null)
    .sort((a, b) => a[0] - b[0]);
  const out: Buffer[] = [];
  let a = 0;
  // Untouched runs of elements are copied as one slice.
  let runStart = -1;
  let runEnd = -1;
  const flush = () => {
    if (runStart >= 0) out.push(bytes.subarray(runStart, runEnd));
    runStart = -1;
  };
  for (const e of elements) {
    while (a < additions.length && additions[a]![0] < e.tag) {
      flush();
      out.push(additions[a++]![1]!);
    }
    if (replacements.has(e.tag)) {
      flush();
      const r = replacements.get(e.tag);
      if (r) out.push(r);
    } else {
      if (runStart < 0) runStart = e.start;
      runEnd = e.end;
    }
  }
  flush();
  while (a < additions.length) out.push(additions[a++]![1]!);
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// Restoring

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

/**
 * Undoes the most recent profile application recorded in a header: the elements of the last
 * Original Attributes Sequence item written by Strata go back byte for byte, the attributes it
 * added are removed, and the item itself is removed (the whole sequence, if the item started it).
 * For a header as applyProfile() left it, the result is the original header, byte for byte.
 */
export function restoreOriginals(
  headerBytes: Buffer,
  transferSyntaxUid: string,
): { headerBytes: Buffer; profile: string | null; restored: string[] } {
  const enc = encodingOf(transferSyntaxUid);
  try {
    const { elements } = walkElements(headerBytes, enc);
    const oas = elements.find((e) => e.tag === ORIGINAL_ATTRIBUTES);
    if (!oas) throw new RestoreError('the header has no Original Attributes Sequence (0400,0561)');
    const items = walkItems(
      headerBytes,
      enc,
      oas.valueStart,
      oas.valueLength === null ? null : oas.valueStart + oas.valueLength,
    );
    const last = items.at(-1);
    if (!last) throw new RestoreError('the Original Attributes Sequence has no item');
    const body = walkElements(headerBytes, enc, last.bodyStart, last.bodyEnd).elements;
    const valueOf = (e: RawElement | undefined): Buffer | null =>
      e && e.valueLength !== null
        ? headerBytes.subarray(e.valueStart, e.valueStart + e.valueLength)
        : null;
    const find = (tag: number) => body.find((e) => e.tag === tag);
    const system = valueOf(find(MODIFYING_SYSTEM_TAG));
    const creator = body.find(
      (e) =>
        e.tag >>> 16 === PRIVATE_GROUP &&
        (e.tag & 0xffff) >= 0x10 &&
        (e.tag & 0xffff) <= 0xff &&
        unpad(valueOf(e)?.toString('latin1') ?? '').trim() === PRIVATE_CREATOR,
    );
    if (!system || unpad(system.toString('latin1')).trim() !== MODIFYING_SYSTEM || !creator) {
      throw new RestoreError(
        'the last Original Attributes Sequence item was not written by Strata',
      );
    }
    const slot = ((PRIVATE_GROUP << 16) | ((creator.tag & 0xff) << 8)) >>> 0;
    const added = new Set(decodeTags(valueOf(find(slot | ITEM_ADDED)) ?? Buffer.alloc(0), enc));
    const created =
      unpad(valueOf(find(slot | ITEM_FLAGS))?.toString('latin1') ?? '').trim() === CREATED_FLAG;
    const profile =
      unpad(valueOf(find(slot | ITEM_PROFILE))?.toString('latin1') ?? '').trim() || null;
    const modified = find(MODIFIED_ATTRIBUTES);
    if (!modified)
      throw new RestoreError('the item has no Modified Attributes Sequence (0400,0550)');
    const [modifiedItem] = walkItems(
      headerBytes,
      enc,
      modified.valueStart,
      modified.valueLength === null ? null : modified.valueStart + modified.valueLength,
    );
    if (!modifiedItem) throw new RestoreError('the Modified Attributes Sequence has no item');
    const originals = walkElements(
      headerBytes,
      enc,
      modifiedItem.bodyStart,
      modifiedItem.bodyEnd,
    ).elements;

    const replacements = new Map<number, Buffer | null>();
    const restored: string[] = [];
    for (const o of originals) {
      replacements.set(o.tag, added.has(o.tag) ? null : headerBytes.subarray(o.start, o.end));
      restored.push(tagKey(o.tag));
    }
    for (const t of added) if (!replacements.has(t)) replacements.set(t, null);
    const remaining = items.slice(0, -1);
    if (remaining.length === 0 && created) {
      replacements.set(ORIGINAL_ATTRIBUTES, null);
    } else {
      const kept = remaining.map((i) => headerBytes.subarray(i.start, i.end));
      const header = headerBytes.subarray(oas.start, oas.valueStart);
      replacements.set(
        ORIGINAL_ATTRIBUTES,
        oas.valueLength === null
          ? Buffer.concat([header, ...kept, headerBytes.subarray(oas.end - 8, oas.end)])
          : Buffer.concat([
              withLength(
                header,
                kept.reduce((n, b) => n + b.length, 0),
                enc,
              ),
              ...kept,
            ]),
      );
    }
    return { headerBytes: rebuild(headerBytes, elements, replacements), profile, restored };
  } catch (error) {
    if (error instanceof SpliceError) throw new RestoreError(error.message);
    throw error;
  }
}
