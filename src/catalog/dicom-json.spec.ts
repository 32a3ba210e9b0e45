import { describe, expect, it } from 'vitest';
import { withBulkDataUris } from './dicom-json.js';

describe('withBulkDataUris', () => {
  const url = 'http://h/dicomweb/studies/1/series/2/instances/3';

  it('fills top-level and nested placeholders, leaves everything else alone', () => {
    const stored = {
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'A^B' }] },
      '00282000': { vr: 'OB', InlineBinary: 'AAEC' },
      '00409096': {
        vr: 'SQ',
        Value: [
          { '00281222': { vr: 'OW', BulkDataURI: '' } },
          { '00281222': { vr: 'OW', BulkDataURI: '' } },
        ],
      },
      '7FE00010': { vr: 'OW', BulkDataURI: '' },
    };
    const filled = withBulkDataUris(stored, url);
    expect(filled['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: `${url}/bulkdata/7FE00010` });
    expect(filled['00409096']!.Value).toEqual([
      { '00281222': { vr: 'OW', BulkDataURI: `${url}/bulkdata/00409096/0/00281222` } },
      { '00281222': { vr: 'OW', BulkDataURI: `${url}/bulkdata/00409096/1/00281222` } },
    ]);
    expect(filled['00100010']).toBe(stored['00100010']);
    expect(filled['00282000']).toBe(stored['00282000']);
    // The stored object is not modified.
    expect(stored['7FE00010'].BulkDataURI).toBe('');
  });

  it('drops placeholders when there is no instance URL', () => {
    expect(withBulkDataUris({ '7FE00010': { vr: 'OB', BulkDataURI: '' } }, null)).toEqual({
      '7FE00010': { vr: 'OB' },
    });
  });
});
