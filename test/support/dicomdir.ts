import { encodeDataSet, TransferSyntax, writePart10Meta } from '../../src/dicom/index.js';

const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

/**
 * A DICOMDIR (PS3.10) whose IMAGE records reference `files` (path components, e.g.
 * ['DICOM', 'IM0001']): only what an importer reads, not a complete directory.
 */
export function makeDicomdir(files: readonly string[][]): Buffer {
  const records = files.map((id) => ({
    '00041430': { vr: 'CS', Value: ['IMAGE'] },
    '00041500': { vr: 'CS', Value: [...id] },
  }));
  const dataset = encodeDataSet(
    {
      '00041130': { vr: 'CS', Value: ['STRATA_TEST'] },
      '00041220': { vr: 'SQ', Value: records },
    },
    TransferSyntax.ExplicitVRLittleEndian,
  );
  const meta = writePart10Meta({
    sopClassUid: MEDIA_STORAGE_DIRECTORY,
    sopInstanceUid: '1.2.826.0.1.3680043.10.1461.99.1',
    transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
  });
  return Buffer.concat([meta, dataset]);
}
