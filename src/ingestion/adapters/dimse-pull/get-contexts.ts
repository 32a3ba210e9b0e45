import { type ContextRequest } from '../../../dimse/index.js';

export const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
export const STUDY_ROOT_MOVE = '1.2.840.10008.5.1.4.1.2.2.2';
export const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const IMPLICIT_LE = '1.2.840.10008.1.2';

/**
 * Transfer syntax groups, one presentation context each. The SCP sends each instance on a context
 * whose transfer syntax is the one it holds it in, if there is one (else it must convert), so an
 * archive that wants the bytes unchanged proposes the common encodings on separate contexts.
 */
const TS_GROUPS: readonly (readonly string[])[] = [
  [EXPLICIT_LE, IMPLICIT_LE],
  ['1.2.840.10008.1.2.4.70'], // JPEG Lossless, SV1
  ['1.2.840.10008.1.2.4.50'], // JPEG Baseline
  ['1.2.840.10008.1.2.4.90'], // JPEG 2000 lossless
  ['1.2.840.10008.1.2.4.91'], // JPEG 2000
  ['1.2.840.10008.1.2.4.80'], // JPEG-LS lossless
  ['1.2.840.10008.1.2.5'], // RLE
  ['1.2.840.10008.1.2.1.99'], // Deflated explicit VR little endian
];

/**
 * What most departmental PACS hold, for a study whose SOP classes the C-FIND did not say:
 * images of every common modality, structured reports, presentation states, key objects, PDFs.
 */
const COMMON_STORAGE: readonly string[] = [
  '1.2.840.10008.5.1.4.1.1.2', // CT
  '1.2.840.10008.5.1.4.1.1.4', // MR
  '1.2.840.10008.5.1.4.1.1.1', // CR
  '1.2.840.10008.5.1.4.1.1.1.1', // DX for presentation
  '1.2.840.10008.5.1.4.1.1.1.1.1', // DX for processing
  '1.2.840.10008.5.1.4.1.1.1.2', // MG for presentation
  '1.2.840.10008.5.1.4.1.1.1.2.1', // MG for processing
  '1.2.840.10008.5.1.4.1.1.6.1', // US
  '1.2.840.10008.5.1.4.1.1.3.1', // US multi-frame
  '1.2.840.10008.5.1.4.1.1.7', // secondary capture
  '1.2.840.10008.5.1.4.1.1.20', // NM
  '1.2.840.10008.5.1.4.1.1.128', // PET
  '1.2.840.10008.5.1.4.1.1.12.1', // XA
  '1.2.840.10008.5.1.4.1.1.12.2', // RF
  '1.2.840.10008.5.1.4.1.1.2.1', // enhanced CT
  '1.2.840.10008.5.1.4.1.1.4.1', // enhanced MR
  '1.2.840.10008.5.1.4.1.1.13.1.3', // breast tomosynthesis
  '1.2.840.10008.5.1.4.1.1.88.11', // basic text SR
  '1.2.840.10008.5.1.4.1.1.88.22', // enhanced SR
  '1.2.840.10008.5.1.4.1.1.88.33', // comprehensive SR
  '1.2.840.10008.5.1.4.1.1.88.59', // key object selection
  '1.2.840.10008.5.1.4.1.1.11.1', // grayscale softcopy presentation state
  '1.2.840.10008.5.1.4.1.1.104.1', // encapsulated PDF
  '1.2.840.10008.5.1.4.1.1.7.2', // multi-frame grayscale byte SC
  '1.2.840.10008.5.1.4.1.1.7.4', // multi-frame true colour SC
  '1.2.840.10008.5.1.4.1.1.481.1', // RT image
  '1.2.840.10008.5.1.4.1.1.481.2', // RT dose
  '1.2.840.10008.5.1.4.1.1.481.3', // RT structure set
  '1.2.840.10008.5.1.4.1.1.481.5', // RT plan
  '1.2.840.10008.5.1.4.1.1.77.1.4', // VL photographic
  '1.2.840.10008.5.1.4.1.1.66.4', // segmentation
];

/** An association holds at most 128 presentation contexts (odd IDs 1..255). */
const MAX_CONTEXTS = 128;

/**
 * The contexts of a C-GET association: Study Root GET, then the storage SOP classes the study
 * holds (or the common ones) with the SCP role for us, each with every transfer syntax group
 * while they fit; classes that no longer fit with all groups get the uncompressed group only.
 */
export function getContexts(sopClasses: readonly string[]): ContextRequest[] {
  const classes = [...new Set(storageClassesFor(sopClasses))];
  const out: ContextRequest[] = [
    { abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] },
  ];
  const room = MAX_CONTEXTS - 1;
  const groupsEach = Math.max(1, Math.min(TS_GROUPS.length, Math.floor(room / classes.length)));
  for (const uid of classes.slice(0, room)) {
    for (const ts of TS_GROUPS.slice(0, groupsEach)) {
      out.push({ abstractSyntax: uid, transferSyntaxes: [...ts], role: { scu: false, scp: true } });
    }
  }
  return out;
}

/** The storage classes to propose for a study: what its C-FIND match said, else the common. */
export function storageClassesFor(sopClasses: readonly string[]): readonly string[] {
  return sopClasses.length > 0 ? sopClasses : COMMON_STORAGE;
}

/** Whether an association proposed for `proposed` classes can take a study of `needed` ones. */
export function covers(proposed: ReadonlySet<string>, needed: readonly string[]): boolean {
  return storageClassesFor(needed).every((c) => proposed.has(c));
}
