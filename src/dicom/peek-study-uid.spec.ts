import { describe, expect, it } from 'vitest';
import { peekStudyInstanceUid } from './peek-study-uid.js';
import { makeInstance } from './testing/index.js';
import { TransferSyntax } from './uids.js';

describe('peekStudyInstanceUid', () => {
  for (const ts of ['implicit', 'explicit', 'explicit-big-endian', 'jpeg-baseline'] as const) {
    it(`finds the Study Instance UID in ${ts} data sets`, () => {
      const i = makeInstance({ transferSyntax: ts, pixelBytes: 64 });
      expect(peekStudyInstanceUid(i.dataset, i.transferSyntaxUid)).toBe(i.studyInstanceUid);
    });
  }

  it('gives up (null) on an undefined-length sequence before the UID', () => {
    const i = makeInstance({
      transferSyntax: 'implicit',
      pixelBytes: 64,
      extra: [
        {
          tag: '00081110',
          vr: 'SQ',
          undefinedLength: true,
          items: [[{ tag: '00081150', vr: 'UI', value: '1.2.3' }]],
        },
      ],
    });
    expect(peekStudyInstanceUid(i.dataset, i.transferSyntaxUid)).toBeNull();
  });

  it('gives up on deflated data, truncation and garbage, never throws', () => {
    const i = makeInstance({ transferSyntax: 'explicit', pixelBytes: 64 });
    expect(
      peekStudyInstanceUid(i.dataset, TransferSyntax.DeflatedExplicitVRLittleEndian),
    ).toBeNull();
    for (let cut = 0; cut < 400 && cut < i.dataset.length; cut++) {
      const r = peekStudyInstanceUid(i.dataset.subarray(0, cut), i.transferSyntaxUid);
      expect(r === null || r === i.studyInstanceUid).toBe(true);
    }
    const garbage = Buffer.alloc(4096);
    for (let n = 0; n < garbage.length; n++) garbage[n] = (n * 7919) & 0xff;
    expect(() => peekStudyInstanceUid(garbage, i.transferSyntaxUid)).not.toThrow();
    expect(peekStudyInstanceUid(Buffer.alloc(0), 'not-a-uid')).toBeNull();
  });
});
