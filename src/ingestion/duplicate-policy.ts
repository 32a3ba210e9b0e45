import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { type DuplicatePolicy } from '../catalog/index.js';

const policyValue = z.enum(['keep-both', 'reject', 'keep-first']);

/** policies/duplicates.yaml: what to do when a SOP Instance UID arrives again with other bytes. */
const schema = z
  .object({
    default: policyValue.default('keep-both'),
    sources: z.record(z.string(), policyValue).default({}),
  })
  .strict();

export class PolicyError extends Error {}

export class DuplicatePolicies {
  constructor(
    private readonly fallback: DuplicatePolicy,
    private readonly bySource: Record<string, DuplicatePolicy>,
  ) {}

  static load(policiesDir: string): DuplicatePolicies {
    const file = join(policiesDir, 'duplicates.yaml');
    if (!existsSync(file)) return new DuplicatePolicies('keep-both', {});
    const doc = parseDocument(readFileSync(file, 'utf8'));
    if (doc.errors.length > 0) throw new PolicyError(`${file}: ${doc.errors[0]!.message}`);
    const parsed = schema.safeParse(doc.toJS() ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const key =
        issue.path.join('.') || (issue as { keys?: string[] }).keys?.join(', ') || '(root)';
      throw new PolicyError(`${file}: ${key}: ${issue.message}`);
    }
    return new DuplicatePolicies(parsed.data.default, parsed.data.sources);
  }

  for(source: string | null): DuplicatePolicy {
    return (source !== null && this.bySource[source]) || this.fallback;
  }
}
