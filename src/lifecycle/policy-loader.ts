import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type PolicySet, type RetentionRule, type TieringRule } from './policy-model.js';
import {
  editDistance,
  PolicyFile,
  type PolicyIssue,
  readRetentionRules,
  readSettings,
  readTieringRules,
  type RuleIds,
} from './policy-schema.js';

export { type PolicyIssue } from './policy-schema.js';

/**
 * Reads and validates the lifecycle policies of a policies directory:
 *
 *   lifecycle.yaml       settings (optional)
 *   retention/*.yaml     retention rules, files read in name order (.yaml or .yml)
 *   tiering/*.yaml       tiering rules, likewise
 *
 * duplicates.yaml and profiles/ (ingestion's: duplicate policies and vendor profiles, validated
 * there), Markdown files and hidden files (.gitkeep) are ignored; any other file or folder is an
 * error, so that a misspelt name never silently drops a policy. A missing directory or subfolder
 * means no rules.
 */

const SETTINGS_FILE = 'lifecycle.yaml';
const RULE_FOLDERS = ['retention', 'tiering'] as const;
/** What the root may hold, for "did you mean" hints. */
const KNOWN_ROOT = ['lifecycle.yaml', 'duplicates.yaml', 'retention/', 'tiering/', 'profiles/'];
/** Ingestion's vendor profiles (src/ingestion/profiles): a folder the lifecycle loader skips. */
const PROFILES_FOLDER = 'profiles';

export class PolicyValidationError extends Error {
  constructor(readonly issues: PolicyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'PolicyValidationError';
  }
}

/** 'retention/default.yaml:12: rules[0].keep.from: must be one of ...'. */
export function formatIssue(issue: PolicyIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
  return issue.key === ''
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.key}: ${issue.message}`;
}

/** Loads the policy set of `dir`; throws PolicyValidationError listing every problem. */
export function loadPolicies(dir: string): PolicySet {
  const { policies, errors } = validatePolicies(dir);
  if (!policies) throw new PolicyValidationError(errors);
  return policies;
}

/**
 * Reads every policy file of `dir` and reports every problem found (not only the first). The
 * policy set is null when there is any problem.
 */
export function validatePolicies(dir: string): {
  policies: PolicySet | null;
  errors: PolicyIssue[];
} {
  const root = resolve(dir);
  const errors: PolicyIssue[] = [];
  const files: { path: string; bytes: Buffer }[] = [];

  const rootKind = kindOf(root);
  if (rootKind !== 'dir' && rootKind !== 'missing') {
    errors.push({ file: dir, line: null, key: '', message: 'not a folder' });
    return { policies: null, errors };
  }
  const unknown = (file: string, message: string) =>
    errors.push({ file, line: null, key: '', message });

  if (rootKind === 'dir') {
    for (const name of listNames(root)) {
      const isDir = kindOf(join(root, name)) === 'dir';
      if (name === SETTINGS_FILE && !isDir) continue;
      if ((RULE_FOLDERS as readonly string[]).includes(name) && isDir) continue;
      if (name === 'duplicates.yaml' || name.endsWith('.md')) continue;
      if (name === PROFILES_FOLDER && isDir) continue;
      const shown = isDir ? `${name}/` : name;
      unknown(shown, `unknown policy file${rootHint(shown)}`);
    }
    if (kindOf(join(root, SETTINGS_FILE)) === 'file') {
      files.push({ path: SETTINGS_FILE, bytes: readFileSync(join(root, SETTINGS_FILE)) });
    }
    for (const folder of RULE_FOLDERS) {
      const folderPath = join(root, folder);
      if (kindOf(folderPath) !== 'dir') continue;
      for (const name of listNames(folderPath)) {
        const path = `${folder}/${name}`;
        const isDir = kindOf(join(folderPath, name)) === 'dir';
        if (!isDir && /\.ya?ml$/.test(name)) {
          files.push({ path, bytes: readFileSync(join(folderPath, name)) });
        } else if (!name.endsWith('.md') || isDir) {
          unknown(
            isDir ? `${path}/` : path,
            `unknown policy file (${folder}/ holds only .yaml or .yml files of ${folder} rules)`,
          );
        }
      }
    }
  }

  const settingsEntry = files.find((f) => f.path === SETTINGS_FILE);
  const settingsFile = settingsEntry && parse(settingsEntry.path, settingsEntry.bytes);
  const settings = settingsFile ? readSettings(settingsFile) : readSettings(emptyFile());
  const ids: RuleIds = new Map();
  const retention: RetentionRule[] = [];
  const tiering: TieringRule[] = [];
  for (const { path, bytes } of files) {
    if (path === SETTINGS_FILE) {
      errors.push(...byLine(settingsFile!.issues));
      continue;
    }
    const file = parse(path, bytes);
    if (path.startsWith('retention/')) retention.push(...readRetentionRules(file, settings, ids));
    else tiering.push(...readTieringRules(file, settings, ids));
    errors.push(...byLine(file.issues));
  }

  if (errors.length > 0) return { policies: null, errors };
  return {
    policies: {
      dir: root,
      settings,
      retention,
      tiering,
      files: files.map((f) => f.path),
      version: versionOf(files),
    },
    errors,
  };
}

/**
 * SHA-256 over, for each file in order: its relative path, a newline, its length in bytes, a
 * newline, its bytes. (Lengths keep the concatenation unambiguous.)
 */
function versionOf(files: { path: string; bytes: Buffer }[]): string {
  const hash = createHash('sha256');
  for (const { path, bytes } of files) {
    hash.update(`${path}\n${bytes.length}\n`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

/** A file's issues in line order (issues without a line first). */
function byLine(issues: PolicyIssue[]): PolicyIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

function parse(path: string, bytes: Buffer): PolicyFile {
  return new PolicyFile(path, bytes.toString('utf8'));
}

function emptyFile(): PolicyFile {
  return new PolicyFile(SETTINGS_FILE, '');
}

/** The entries of a folder in name order, without hidden ones (.gitkeep, editor swap files). */
function listNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
}

/** What is at `path` (following symbolic links; a broken link is 'other'). */
function kindOf(path: string): 'file' | 'dir' | 'other' | 'missing' {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : 'other';
  } catch {
    return existsSync(path) || isLink(path) ? 'other' : 'missing';
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What the root may hold, and the likely intended name for a misspelt one. */
function rootHint(shown: string): string {
  const stem = (name: string) => name.replace(/\/$/, '').replace(/\.ya?ml$/, '');
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const known of KNOWN_ROOT) {
    const d = editDistance(stem(shown).toLowerCase(), stem(known));
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  const list =
    'lifecycle.yaml, retention/, tiering/, duplicates.yaml, profiles/ and Markdown files';
  const guess = best !== null && bestDistance <= 2 ? `did you mean ${best}? ` : '';
  return ` (${guess}a policies folder holds ${list})`;
}
