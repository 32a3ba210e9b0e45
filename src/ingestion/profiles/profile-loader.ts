import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type SourceConfig } from '../../config/index.js';
import { type VendorProfile } from './profile-model.js';
import { formatProfileIssue, type ProfileIssue, readProfile } from './profile-schema.js';

/**
 * The vendor profiles of a policies folder (profiles/<name>.yaml), loaded and checked once at
 * start: every file must be valid, and every profile a configured source names must exist.
 * Markdown and hidden files are ignored; any other file or folder under profiles/ is an error, so
 * that a misspelt extension never silently drops a profile.
 */

export const PROFILES_FOLDER = 'profiles';

export class ProfileError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ProfileError';
  }
}

/** Reads and checks every profile file; the profiles that are valid, and every problem. */
export function validateProfiles(policiesDir: string): {
  profiles: Map<string, VendorProfile>;
  issues: ProfileIssue[];
} {
  const dir = join(resolve(policiesDir), PROFILES_FOLDER);
  const profiles = new Map<string, VendorProfile>();
  const issues: ProfileIssue[] = [];
  if (!existsSync(dir)) return { profiles, issues };
  if (!statSync(dir).isDirectory()) {
    issues.push({ file: `${PROFILES_FOLDER}`, line: null, key: '', message: 'not a folder' });
    return { profiles, issues };
  }
  const seen = new Map<string, string>();
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.')) continue;
    const path = join(dir, entry);
    const file = `${PROFILES_FOLDER}/${entry}`;
    const isFile = statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
    if (entry.endsWith('.md') && isFile) continue;
    const m = /^(.*)\.ya?ml$/.exec(entry);
    if (!m || !isFile) {
      issues.push({
        file: isFile ? file : `${file}/`,
        line: null,
        key: '',
        message: 'unknown file (profiles/ holds only <name>.yaml profiles and Markdown files)',
      });
      continue;
    }
    const name = m[1]!;
    const other = seen.get(name);
    if (other) {
      issues.push({
        file,
        line: null,
        key: '',
        message: `profile '${name}' is also defined by ${other}`,
      });
      continue;
    }
    seen.set(name, file);
    const { profile, issues: found } = readProfile(file, name, readFileSync(path));
    issues.push(...found);
    if (profile) profiles.set(name, profile);
  }
  return { profiles, issues };
}

/** The profile set the ingestion pipeline applies: one profile (or none) per source. */
export class VendorProfiles {
  private constructor(
    readonly all: ReadonlyMap<string, VendorProfile>,
    private readonly bySource: ReadonlyMap<string, VendorProfile>,
  ) {}

  /**
   * Loads the profiles of `policiesDir` and resolves each configured source's `profile`. Throws
   * ProfileError naming every invalid file and every source naming a profile that does not exist.
   */
  static load(policiesDir: string, sources: Record<string, SourceConfig>): VendorProfiles {
    const { profiles, issues } = validateProfiles(policiesDir);
    const problems = issues.map(formatProfileIssue);
    const bySource = new Map<string, VendorProfile>();
    for (const s of Object.values(sources)) {
      if (s.profile === null) continue;
      const profile = profiles.get(s.profile);
      if (profile) {
        bySource.set(s.name, profile);
      } else if (
        !issues.some((i) => i.file.replace(/\.ya?ml$/, '') === `${PROFILES_FOLDER}/${s.profile}`)
      ) {
        const known = [...profiles.keys()].join(', ') || 'none';
        problems.push(
          `config file: sources.${s.name}.profile: no profile '${s.profile}' in ${join(policiesDir, PROFILES_FOLDER)} (profiles: ${known})`,
        );
      }
    }
    if (problems.length > 0) throw new ProfileError(problems);
    return new VendorProfiles(profiles, bySource);
  }

  /** The profile applied to instances from `source`, or null. */
  for(source: string | null): VendorProfile | null {
    return source === null ? null : (this.bySource.get(source) ?? null);
  }
}
