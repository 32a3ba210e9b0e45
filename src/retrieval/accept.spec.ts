import { describe, expect, it } from 'vitest';
import {
  negotiateBulkData,
  negotiateDicomInstances,
  negotiateJson,
  parseAccept,
} from './accept.js';

describe('parseAccept', () => {
  it('parses ranges, quoted parameters with commas and semicolons, and drops q=0', () => {
    const ranges = parseAccept(
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1, application/x;q=0, */*;q=0.1',
    );
    expect(ranges.map((r) => r.type)).toEqual(['multipart/related', '*/*']);
    expect(ranges[0]!.params.get('type')).toBe('application/dicom');
    expect(ranges[0]!.params.get('transfer-syntax')).toBe('1.2.840.10008.1.2.1');
    expect(ranges[1]!.q).toBe(0.1);
    expect(parseAccept('a/b; x="1,2;3"')[0]!.params.get('x')).toBe('1,2;3');
  });
});

describe('negotiateJson', () => {
  it.each([
    undefined,
    '',
    '*/*',
    'application/*',
    'application/dicom+json',
    'text/html, application/dicom+json;q=0.5',
  ])('accepts %s as application/dicom+json', (h) =>
    expect(negotiateJson(h)).toBe('application/dicom+json'),
  );
  it('answers plain JSON when only that is accepted', () => {
    expect(negotiateJson('application/json')).toBe('application/json');
  });
  it.each([
    'application/dicom+xml',
    'multipart/related; type="application/dicom+xml"',
    'application/dicom+json;q=0',
  ])('refuses %s', (h) => expect(negotiateJson(h)).toBeNull());
});

describe('negotiateDicomInstances', () => {
  it.each([
    undefined,
    '*/*',
    'multipart/related; type="application/dicom"',
    'multipart/related; type=application/dicom; transfer-syntax=*',
    'multipart/related; type="application/dicom"; transfer-syntax="*"',
  ])('%s accepts the stored transfer syntax', (h) => {
    expect(negotiateDicomInstances(h)).toEqual({ any: true });
  });
  it('collects specific transfer syntaxes', () => {
    expect(
      negotiateDicomInstances(
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1, multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
      ),
    ).toEqual({ any: false, uids: new Set(['1.2.840.10008.1.2.1', '1.2.840.10008.1.2.4.50']) });
  });
  it.each([
    'application/dicom',
    'multipart/related; type="application/octet-stream"',
    'image/jpeg',
    'application/dicom+json',
  ])('refuses %s', (h) => expect(negotiateDicomInstances(h)).toBeNull());
});

describe('negotiateBulkData', () => {
  it.each([
    undefined,
    '*/*',
    'multipart/related; type="application/octet-stream"',
    'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    'multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1',
  ])('accepts %s', (h) => expect(negotiateBulkData(h)).toBe(true));
  it.each([
    'multipart/related; type="image/jpeg"',
    'application/octet-stream',
    'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50',
  ])('refuses %s', (h) => expect(negotiateBulkData(h)).toBe(false));
});
