/**
 * Minimal typings for the parts of dcmjs 0.52 that Strata uses (dcmjs ships no types). Values
 * are `unknown` on purpose: dcmjs output is untrusted data and is checked where it is read.
 */
declare module 'dcmjs' {
  /** One element of a dcmjs "naturalized-free" dict: the DICOM JSON model plus private keys. */
  export interface DcmjsElement {
    vr: string;
    Value?: unknown[];
  }

  export type DcmjsDict = Record<string, DcmjsElement>;

  export interface DicomDict {
    meta: DcmjsDict;
    dict: DcmjsDict;
  }

  export interface ReadFileOptions {
    ignoreErrors?: boolean;
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }

  export interface WriteBufferStream {
    getBuffer(): ArrayBuffer;
  }

  export interface DictionaryEntry {
    tag: string;
    /** A VR, or 'ox' / 'xs' for "OB or OW" / "US or SS". */
    vr: string;
    vm: string;
    name: string;
  }

  const dcmjs: {
    data: {
      DicomMessage: {
        readFile(buffer: ArrayBuffer, options?: ReadFileOptions): DicomDict;
        /** Writes a data set (dictionary format, no meta header) in a transfer syntax. */
        write(
          dataset: Record<string, { vr: string; Value: unknown[] }>,
          stream: WriteBufferStream,
          transferSyntaxUid: string,
          options: Record<string, unknown>,
        ): number;
      };
      WriteBufferStream: new (size?: number, littleEndian?: boolean) => WriteBufferStream;
      DicomMetaDictionary: {
        /** Keyed '(GGGG,EEEE)' with upper-case hex. */
        dictionary: Record<string, DictionaryEntry | undefined>;
        /** Keyed by keyword ('PatientID'). */
        nameMap: Record<string, DictionaryEntry | undefined>;
      };
    };
    log: { setLevel(level: 'silent' | 'error' | 'warn' | 'info' | 'debug' | 'trace'): void };
  };
  export default dcmjs;
}
