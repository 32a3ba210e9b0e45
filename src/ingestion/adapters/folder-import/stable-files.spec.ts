import { describe, expect, it } from 'vitest';
import { StableFiles } from './stable-files.js';

describe('StableFiles', () => {
  const f = (size: number, mtimeMs = 1000) => [{ path: 'a.dcm', size, mtimeMs }];

  it('takes a file only once its size and mtime have not changed for the stable time', () => {
    const s = new StableFiles(2000);
    expect(s.observe(f(10), 0)).toEqual([]);
    expect(s.observe(f(10), 1999)).toEqual([]);
    expect(s.observe(f(10), 2000)).toEqual(['a.dcm']);
  });

  it('starts over when the file grows or is touched, however old its mtime', () => {
    const s = new StableFiles(2000);
    s.observe(f(10), 0);
    expect(s.observe(f(20), 1500)).toEqual([]);
    expect(s.observe(f(20), 3000)).toEqual([]);
    expect(s.observe(f(20, 2000), 3400)).toEqual([]);
    expect(s.observe(f(20, 2000), 5400)).toEqual(['a.dcm']);
  });

  it('forgets files that disappear, and files it is told to forget', () => {
    const s = new StableFiles(1000);
    s.observe(f(10), 0);
    s.observe([], 500);
    expect(s.observe(f(10), 1200)).toEqual([]);
    s.forget('a.dcm');
    expect(s.observe(f(10), 2300)).toEqual([]);
    expect(s.observe(f(10), 3300)).toEqual(['a.dcm']);
  });
});
