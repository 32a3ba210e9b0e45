import { type z } from 'zod';

/**
 * An adapter's check of a configured source's own keys against its schema (a strict zod object,
 * so that a misspelt key is an error, as everywhere in the config file): one line per problem.
 */
export function optionProblems(schema: z.ZodType, options: Record<string, unknown>): string[] {
  const parsed = schema.safeParse(options);
  if (parsed.success) return [];
  return parsed.error.issues.map((i) => `${i.path.join('.') || '(keys)'}: ${i.message}`);
}
