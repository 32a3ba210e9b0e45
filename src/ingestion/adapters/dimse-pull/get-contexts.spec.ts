import { describe, expect, it } from 'vitest';
import { covers, getContexts, STUDY_ROOT_GET } from './get-contexts.js';

describe('getContexts', () => {
  it('proposes the study classes with every transfer syntax group, SCP role for us', () => {
    const ctx = getContexts(['1.2.840.10008.5.1.4.1.1.2']);
    expect(ctx[0]!.abstractSyntax).toBe(STUDY_ROOT_GET);
    expect(ctx.slice(1).every((c) => c.role?.scp === true && c.role.scu === false)).toBe(true);
    expect(ctx).toHaveLength(1 + 8);
    expect(ctx.flatMap((c) => c.transferSyntaxes)).toContain('1.2.840.10008.1.2.4.70');
  });

  it('stays within 128 contexts, whatever the study holds', () => {
    const many = Array.from({ length: 200 }, (_, i) => `1.2.840.10008.5.1.4.1.1.${i + 1}`);
    expect(getContexts(many).length).toBeLessThanOrEqual(128);
    const common = getContexts([]);
    expect(common.length).toBeLessThanOrEqual(128);
    expect(new Set(common.map((c) => c.abstractSyntax)).size).toBeGreaterThan(25);
  });

  it('covers: an association proposed for some classes serves a study of those only', () => {
    const proposed = new Set(['a', 'b']);
    expect(covers(proposed, ['a'])).toBe(true);
    expect(covers(proposed, ['a', 'c'])).toBe(false);
    // A study whose classes are unknown needs the common ones.
    expect(covers(proposed, [])).toBe(false);
    const common = new Set(getContexts([]).map((c) => c.abstractSyntax));
    expect(covers(common, [])).toBe(true);
  });
});
