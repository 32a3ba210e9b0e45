/**
 * The dicom context's public surface: pure DICOM, no NestJS, no other context. Header capture
 * (bounded, streaming), Part 10 framing, header parsing in a bounded worker pool, UIDs.
 * Test fixtures live in ./testing/index.ts and are not exported here.
 */
export { DicomFormatError, isDicomFormatError, type DicomFormatErrorReason } from './errors.js';
export {
  TransferSyntax,
  datasetEncoding,
  isEncapsulatedTransferSyntax,
  isStorageSopClass,
  isValidUid,
  LONG_VRS,
  type DatasetEncoding,
} from './uids.js';
export {
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  MAX_META_GROUP_BYTES,
  Part10Splitter,
  writePart10Meta,
  type Part10Meta,
  type Part10MetaInput,
} from './part10.js';
export {
  BULK_THRESHOLD_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  HeaderCapture,
  MAX_SEQUENCE_DEPTH,
  type CapturedBulk,
  type CapturedHeader,
  type HeaderCaptureOptions,
} from './header-capture.js';
export {
  MAX_INLINE_BINARY_BYTES,
  parseHeaderSync,
  type BulkElementInfo,
  type DicomJsonElement,
  type ParsedAttributes,
  type ParsedHeader,
} from './parse-header.js';
export { HeaderParserPool, type HeaderParserPoolOptions } from './header-parser-pool.js';
export { peekStudyInstanceUid } from './peek-study-uid.js';
export { decodeDataSet, encodeDataSet } from './dataset-codec.js';
export { type DicomJsonDataset } from './decode-dataset.js';
export { isSupportedCharset, textCodec, type TextCodec } from './text-codec.js';
export { keywordOf, lookupAttribute, type AttributeInfo } from './dictionary.js';
