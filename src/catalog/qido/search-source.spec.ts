import { describe, expect, it } from 'vitest';
import { buildSearch } from './search-sql.js';
import { type QueryLevel } from './search-types.js';

describe("a search limited to a source's instances (a pacs token's view)", () => {
  it.each([
    ['study', 'fi.study_fk = st.id'],
    ['series', 'fi.series_fk = se.id'],
    ['instance', 'fv.instance_fk = i.id'],
  ] as [QueryLevel, string][])('at the %s level, keeps rows holding one', (level, join) => {
    const s = buildSearch({ level, keys: [], limit: 10, offset: 0, fromSource: 'EAST' });
    expect(s.sql).toContain('EXISTS (SELECT 1 FROM');
    expect(s.sql).toContain(join);
    expect(s.sql).toMatch(/fv\.source = \$1/);
    expect(s.params[0]).toBe('EAST');
  });

  it('adds nothing without a source', () => {
    const s = buildSearch({ level: 'study', keys: [], limit: 10, offset: 0 });
    expect(s.sql).not.toContain('fv.source');
  });
});
