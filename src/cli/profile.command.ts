import { createReadStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, type StrataConfig } from '../config/index.js';
import {
  datasetEncoding,
  DicomFormatError,
  HeaderCapture,
  Part10Splitter,
  type CapturedHeader,
} from '../dicom/index.js';
import {
  applyProfile,
  formatProfileIssue,
  ProfileApplyError,
  type ProfileChange,
  PROFILES_FOLDER,
  validateProfiles,
} from '../ingestion/index.js';

export const PROFILE_USAGE = `usage: strata profile <list | test FILE (--source ID | --profile NAME) [--json]>

  list                the vendor profiles of the policies folder (STRATA_POLICIES_DIR/profiles):
                      rules, description and the sources that use each; exits 1 when a profile
                      file is invalid (every problem with its file, line and key)
  test FILE           the attribute changes a profile would make to a DICOM file (Part 10), before
                      it is enabled: attribute, tag, value before → after, rule and reason. Nothing
                      is stored or changed.
    --source ID       the profile the configured source ID uses (and ID as the source recorded)
    --profile NAME    a profile by name, whether a source uses it yet or not
    --json            the changes as JSON

Patient values are shown: this is the operator's own terminal, not a log.
Exits 0 on success, 1 when the file is not DICOM, the profile is invalid or would refuse the
instance, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${PROFILE_USAGE}`);
  return 2;
}

export async function profileCommand(argv: string[], _log: Log): Promise<number> {
  let parsed: {
    values: { source?: string; profile?: string; json?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        source: { type: 'string' },
        profile: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [sub, file, ...extra] = parsed.positionals;
  if (extra.length > 0) return usageError(`unexpected argument '${extra[0]}'`);
  const json = parsed.values.json ?? false;
  switch (sub) {
    case 'list':
      if (file) return usageError(`unexpected argument '${file}'`);
      if (parsed.values.source || parsed.values.profile) {
        return usageError("'profile list' takes no --source or --profile");
      }
      return list(loadConfig(), json);
    case 'test': {
      if (!file) return usageError("'profile test' needs a DICOM file");
      const { source, profile } = parsed.values;
      if (source === undefined && profile === undefined) {
        return usageError("'profile test' needs --source ID or --profile NAME");
      }
      return test(loadConfig(), resolve(file), source ?? null, profile ?? null, json);
    }
    default:
      return usageError(sub ? `unknown profile command '${sub}'` : 'which profile command?');
  }
}

function list(config: StrataConfig, json: boolean): number {
  const { profiles, issues } = validateProfiles(config.policiesDir);
  const users = (name: string) =>
    Object.values(config.sources)
      .filter((s) => s.profile === name)
      .map((s) => s.name);
  const rows = [...profiles.values()].map((p) => ({
    name: p.name,
    file: p.file,
    description: p.description,
    rules: p.rules.length,
    version: p.version.slice(0, 12),
    sources: users(p.name),
  }));
  if (json) {
    console.log(
      JSON.stringify({ profiles: rows, problems: issues.map(formatProfileIssue) }, null, 2),
    );
  } else {
    const dir = join(config.policiesDir, PROFILES_FOLDER);
    if (rows.length === 0) console.log(`no vendor profiles in ${dir}`);
    else console.log(`vendor profiles in ${dir}:`);
    const width = Math.max(0, ...rows.map((r) => r.name.length));
    for (const r of rows) {
      console.log(
        `  ${r.name.padEnd(width)}  ${String(r.rules).padStart(2)} rule(s)  sources: ${r.sources.join(', ') || '-'}${r.description ? `  ${r.description.split('\n')[0]}` : ''}`,
      );
    }
  }
  if (issues.length > 0) {
    console.error(`strata: ${issues.length} error(s) in the profiles:`);
    for (const i of issues) console.error(`  ${formatProfileIssue(i)}`);
    return 1;
  }
  return 0;
}

async function test(
  config: StrataConfig,
  path: string,
  sourceName: string | null,
  profileName: string | null,
  json: boolean,
): Promise<number> {
  let name = profileName;
  if (sourceName !== null) {
    const source = config.sources[sourceName];
    if (!source) {
      const known = Object.keys(config.sources).join(', ') || 'none configured';
      return usageError(`--source: no source '${sourceName}' in the configuration (${known})`);
    }
    if (name === null && source.profile === null) {
      return usageError(
        `--source: source '${sourceName}' has no profile; give --profile NAME to try one`,
      );
    }
    name ??= source.profile;
  }
  const { profiles, issues } = validateProfiles(config.policiesDir);
  const own = issues.filter((i) => i.file.replace(/\.ya?ml$/, '') === `${PROFILES_FOLDER}/${name}`);
  if (own.length > 0) {
    console.error(`strata: profile '${name}' is not valid:`);
    for (const i of own) console.error(`  ${formatProfileIssue(i)}`);
    return 1;
  }
  const profile = profiles.get(name!);
  if (!profile) {
    const known = [...profiles.keys()].join(', ') || 'none';
    const message = `no profile '${name}' in ${join(config.policiesDir, PROFILES_FOLDER)} (profiles: ${known})`;
    // A source naming a missing profile is a configuration problem; a mistyped --profile is usage.
    if (profileName === null) {
      console.error(`strata: ${message}`);
      return 1;
    }
    return usageError(`--profile: ${message}`);
  }

  let read: { transferSyntaxUid: string; captured: CapturedHeader };
  try {
    read = await readHeader(path, config.ingest.maxHeaderBytes);
  } catch (error) {
    const reason =
      error instanceof DicomFormatError
        ? `not a DICOM file Strata can read: ${error.message}`
        : `cannot read it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    console.error(`strata: ${path}: ${reason}`);
    return 1;
  }
  const source = sourceName ?? `profile test`;
  let outcome;
  try {
    outcome = applyProfile(profile, read.captured.headerBytes, read.transferSyntaxUid, {
      source,
      now: new Date(),
      bulkTag: read.captured.bulk?.tag ?? null,
    });
  } catch (error) {
    if (!(error instanceof ProfileApplyError)) throw error;
    if (json) {
      console.log(
        JSON.stringify(
          { profile: profile.name, file: path, source: sourceName, refused: error.message },
          null,
          2,
        ),
      );
    }
    console.error(`strata: the archive would refuse this instance: ${error.message}`);
    return 1;
  }
  const deflated =
    datasetEncoding(read.transferSyntaxUid).deflated && outcome.changedAttributes > 0;
  if (json) {
    console.log(
      JSON.stringify(
        {
          profile: profile.name,
          version: profile.version.slice(0, 12),
          file: path,
          source: sourceName,
          changedAttributes: outcome.changedAttributes,
          reasonCode: outcome.code,
          changes: outcome.changes,
          ...(deflated ? { refused: 'deflated data sets cannot be changed by a profile' } : {}),
        },
        null,
        2,
      ),
    );
    return deflated ? 1 : 0;
  }
  console.log(
    `profile ${profile.name} (${profile.file}) on ${path}${sourceName ? `, source ${sourceName}` : ''}:`,
  );
  if (outcome.changes.length === 0) {
    console.log('  no change: the instance would be stored exactly as received');
    return 0;
  }
  console.log(renderChanges(outcome.changes));
  console.log(
    `${outcome.changedAttributes} attribute(s) would change; the original values would be kept in ` +
      `Original Attributes Sequence (0400,0561), reason ${outcome.code}`,
  );
  if (deflated) {
    console.error(
      'strata: this file is deflated: the archive would refuse it from this source (a profile cannot change a deflated data set)',
    );
    return 1;
  }
  return 0;
}

/** One line per change: attribute and tag, before → after, then the rule and its reason. */
export function renderChanges(changes: readonly ProfileChange[]): string {
  const shown = (v: string | null, removed: boolean) =>
    v === null ? (removed ? '(removed)' : '(absent)') : `'${v}'`;
  const rows = changes.map((c) => {
    // A removed private block is described ('3 element(s)'), not quoted as a value.
    const before = c.rule === 'removePrivate' ? (c.before ?? '') : shown(c.before, false);
    const h = c.tag;
    const tag = c.keyword.includes('(') ? '' : ` (${h.slice(0, 4)},${h.slice(4)})`;
    return {
      what: `${c.keyword}${tag}`,
      diff: `${before} → ${shown(c.after, true)}`,
      why: `rule ${c.ruleIndex} ${c.rule}: ${c.reason}`,
    };
  });
  const w1 = Math.max(...rows.map((r) => r.what.length));
  const w2 = Math.max(...rows.map((r) => r.diff.length));
  return rows.map((r) => `  ${r.what.padEnd(w1)}  ${r.diff.padEnd(w2)}  ${r.why}`).join('\n');
}

/** The meta header's transfer syntax and the captured header of a Part 10 file. */
async function readHeader(
  path: string,
  maxHeaderBytes: number,
): Promise<{ transferSyntaxUid: string; captured: CapturedHeader }> {
  const splitter = new Part10Splitter();
  splitter.on('error', () => undefined);
  const input = createReadStream(path);
  input.on('error', (e) => splitter.destroy(e));
  input.pipe(splitter);
  try {
    const meta = await splitter.meta;
    const capture = new HeaderCapture(meta.transferSyntaxUid, { maxHeaderBytes });
    for await (const chunk of splitter as AsyncIterable<Buffer>) {
      capture.push(chunk);
      if (capture.done)
        return { transferSyntaxUid: meta.transferSyntaxUid, captured: capture.header() };
    }
    return { transferSyntaxUid: meta.transferSyntaxUid, captured: capture.finish() };
  } finally {
    input.destroy();
    splitter.destroy();
  }
}
