/**
 * Vendor profiles (policies/profiles/<name>.yaml) as the engine sees them once validated: a list
 * of rules over top-level attributes, each with the reason recorded in Original Attributes
 * Sequence (0400,0561). policies/README.md documents the file format for people.
 */

/** When a rule writes its attribute: always, only when it is absent, or absent or empty. */
export type When = 'always' | 'absent' | 'empty';

/** PS3.3 C.12.1 Reason for the Attribute Modification (0400,0565). */
export type ModificationCode = 'COERCE' | 'CORRECT';

/** A standard top-level attribute a rule may read or write. */
export interface AttributeRef {
  tag: number;
  /** 'GGGGEEEE'. */
  key: string;
  keyword: string | null;
  /** Its dictionary VR (used when the attribute is added; an existing element keeps its own). */
  vr: string;
}

/**
 * A private element, by its private creator and its place in the creator's block: group 0905,
 * element (0905,xx30) where xx is whatever block the creator reserved in that instance.
 */
export interface PrivateRef {
  creator: string;
  group: number;
  /** The low byte of the element number (0x30 in 0905xx30). */
  offset: number;
  /** As written: '(0905,xx30) of GEIIS'. */
  label: string;
}

interface RuleBase {
  /** 1-based position in the file, for messages. */
  index: number;
  /** Line of the rule in its file (null when unknown). */
  line: number | null;
  reason: string;
  code: ModificationCode;
}

export type ProfileRule = RuleBase &
  (
    | { kind: 'set'; attribute: AttributeRef; value: string; when: When }
    | { kind: 'remove'; attribute: AttributeRef }
    | { kind: 'copy'; from: AttributeRef | PrivateRef; to: AttributeRef; when: When }
    | {
        kind: 'map';
        attribute: AttributeRef;
        values: ReadonlyMap<string, string>;
        ignoreCase: boolean;
      }
    | { kind: 'regex'; attribute: AttributeRef; pattern: RegExp; replacement: string }
    | {
        kind: 'patientId';
        prefix: string | null;
        issuer: string | null;
        issuerWhen: When;
      }
    | {
        kind: 'removePrivate';
        creators: readonly string[];
        /** Only blocks in these (odd) groups; null for every group. */
        groups: readonly number[] | null;
      }
    | {
        kind: 'charset';
        /** Assume this Specific Character Set when none is declared (or the declared one is empty). */
        assume: string | null;
        /** Replace these declared values (as written, backslash-joined)... */
        replace: readonly string[];
        /** ...with this one. */
        with: string | null;
      }
    | {
        kind: 'accession';
        trim: boolean;
        uppercase: boolean;
        stripPrefixes: readonly string[];
        stripLeadingZeros: boolean;
        maxLength: number;
        tooLong: 'refuse' | 'keep-start' | 'keep-end';
      }
  );

export type RuleKind = ProfileRule['kind'];

export interface VendorProfile {
  /** The file name without .yaml: what sources name in `sources.<id>.profile`. */
  name: string;
  /** Relative to the policies folder: 'profiles/ge-centricity.yaml'. */
  file: string;
  description: string | null;
  rules: readonly ProfileRule[];
  /** SHA-256 of the file: changes when the profile does. */
  version: string;
}

/** One change a profile made (or would make) to an instance. Values are decoded text. */
export interface ProfileChange {
  /** 'GGGGEEEE' (for a private block: its creator element). */
  tag: string;
  /** The keyword, or a description ('private block GEMS_IDEN_01'). */
  keyword: string;
  rule: RuleKind;
  /** 1-based rule number in the profile. */
  ruleIndex: number;
  /** The value before (null: absent). */
  before: string | null;
  /** The value after (null: removed). */
  after: string | null;
  reason: string;
}
