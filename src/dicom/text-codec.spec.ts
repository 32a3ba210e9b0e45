import { describe, expect, it } from 'vitest';
import { keywordOf, lookupAttribute } from './dictionary.js';
import { isSupportedCharset, textCodec } from './text-codec.js';

describe('textCodec', () => {
  it('default repertoire: ASCII only', () => {
    const c = textCodec(null);
    expect(c.encode('Doe^John')).toEqual(Buffer.from('Doe^John'));
    expect(c.encode('Müller')).toBeNull();
    expect(c.isValid(Buffer.from('abc'))).toBe(true);
    expect(c.isValid(Buffer.from('Müller', 'latin1'))).toBe(false);
    expect(textCodec('ISO_IR 6').encode('é')).toBeNull();
  });

  it('single-byte sets encode what they decode', () => {
    const latin1 = textCodec('ISO_IR 100');
    expect(latin1.singleByte).toBe(true);
    expect(latin1.encode('Müller')).toEqual(Buffer.from('Müller', 'latin1'));
    expect(latin1.decode(latin1.encode('Zoë')!)).toBe('Zoë');
    expect(latin1.encode('Łódź')).toBeNull();
    const latin2 = textCodec('ISO_IR 101');
    expect(latin2.decode(latin2.encode('Łódź')!)).toBe('Łódź');
    const cyrillic = textCodec('ISO_IR 144');
    expect(cyrillic.decode(cyrillic.encode('Иванов')!)).toBe('Иванов');
  });

  it('UTF-8 takes anything and checks well-formedness; multi-byte sets take ASCII only', () => {
    const utf8 = textCodec('ISO_IR 192');
    expect(utf8.encode('山田^太郎')).toEqual(Buffer.from('山田^太郎', 'utf8'));
    expect(utf8.isValid(Buffer.from('Müller', 'latin1'))).toBe(false);
    expect(utf8.isValid(Buffer.from('Müller', 'utf8'))).toBe(true);
    const jis = textCodec('\\ISO 2022 IR 87');
    expect(jis.encode('Yamada')).toEqual(Buffer.from('Yamada'));
    expect(jis.encode('山田')).toBeNull();
  });

  it('knows the defined terms', () => {
    expect(isSupportedCharset('ISO_IR 100')).toBe(true);
    expect(isSupportedCharset('\\ISO 2022 IR 87')).toBe(true);
    expect(isSupportedCharset('ISO_IR 999')).toBe(false);
    expect(isSupportedCharset('')).toBe(false);
  });
});

describe('the dictionary', () => {
  it('finds attributes by keyword or tag', () => {
    expect(lookupAttribute('PatientID')).toEqual({
      tag: 0x00100020,
      key: '00100020',
      keyword: 'PatientID',
      vr: 'LO',
    });
    expect(lookupAttribute('(0010,0020)')).toEqual(lookupAttribute('00100020'));
    expect(lookupAttribute('00091001')).toMatchObject({ keyword: null, vr: 'UN' });
    expect(lookupAttribute('PatientNmae')).toBeNull();
    expect(lookupAttribute('(0010,0020')).toBeNull();
    expect(keywordOf(0x04000561)).toBe('OriginalAttributesSequence');
  });
});
