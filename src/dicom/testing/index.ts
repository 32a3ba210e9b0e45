/** Test-only helpers of the dicom context: import from tests and benchmarks, never from src. */
export {
  encodeElement,
  makeInstance,
  makeInstanceStream,
  newUid,
  writeInstanceFile,
  type FixtureElement,
  type FixtureEncoding,
  type FixtureTransferSyntax,
  type GeneratedInstance,
  type GeneratedInstanceInfo,
  type InstanceOptions,
} from './fixtures.js';
