import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { loadConfig } from '../config/index.js';
import {
  DuplicatePolicies,
  formatProfileIssue,
  PolicyError,
  validateProfiles,
} from '../ingestion/index.js';
import {
  type Explanation,
  formatIssue,
  LifecycleError,
  LifecycleService,
  PolicyValidationError,
  type SimulationReport,
  SimulationService,
  validatePolicies,
} from '../lifecycle/index.js';
import { withTieringApp } from './tiering-app.js';

export const POLICY_USAGE = `usage: strata policy <validate [DIR] | explain UID [--at DATE] | simulate [--policies DIR] [--months N]>

  validate [DIR]        check a policy directory (default: STRATA_POLICIES_DIR), vendor profiles
                        included: every error with its file, line and key; exits 1 when there is
                        one
  explain UID           what the policies decide for a study and why: tiers, every rule that
                        matched, the retention end and the rule that set it, the next move, holds;
                        --at YYYY-MM-DD answers for another day
  simulate              month by month over --months (default 24): studies and bytes per tier,
                        expiries, purges and the holds that block them, for the current policies
                        and, with --policies DIR, a proposed set beside them; changes nothing;
                        --json prints the whole report

Exits 0 on success, 1 on invalid policies or a failure, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${POLICY_USAGE}`);
  return 2;
}

export async function policyCommand(argv: string[], log: Log): Promise<number> {
  let parsed: {
    values: { at?: string; policies?: string; months?: string; json?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        at: { type: 'string' },
        policies: { type: 'string' },
        months: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [sub, arg, ...extra] = parsed.positionals;
  if (extra.length > 0) return usageError(`unexpected argument '${extra[0]}'`);
  switch (sub) {
    case 'validate':
      return validate(arg ?? loadConfig().policiesDir);
    case 'explain': {
      if (!arg || !/^[0-9]+(\.[0-9]+)*$/.test(arg)) {
        return usageError("'policy explain' needs a Study Instance UID");
      }
      let at: Date | undefined;
      if (parsed.values.at !== undefined) {
        at = new Date(`${parsed.values.at}T00:00:00Z`);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(parsed.values.at) || Number.isNaN(at.getTime())) {
          return usageError('--at needs a date as YYYY-MM-DD');
        }
      }
      return explain(arg, at, parsed.values.json ?? false, log);
    }
    case 'simulate': {
      if (arg) return usageError(`unexpected argument '${arg}'`);
      const months = Number(parsed.values.months ?? 24);
      if (!Number.isInteger(months) || months < 1 || months > 240) {
        return usageError('--months needs a whole number from 1 to 240');
      }
      const proposed = parsed.values.policies ? resolve(parsed.values.policies) : null;
      return simulateCommand(months, proposed, parsed.values.json ?? false, log);
    }
    default:
      return usageError(sub ? `unknown policy command '${sub}'` : 'which policy command?');
  }
}

function validate(dir: string): number {
  const { policies, errors } = validatePolicies(dir);
  const problems = errors.map(formatIssue);
  try {
    DuplicatePolicies.load(dir);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    problems.push(error.message);
  }
  const profiles = validateProfiles(dir);
  problems.push(...profiles.issues.map(formatProfileIssue));
  if (problems.length > 0) {
    console.error(`strata: ${problems.length} error(s) in the policies in ${dir}:`);
    for (const p of problems) console.error(`  ${p}`);
    return 1;
  }
  console.log(
    `the policies in ${dir} are valid: ${policies!.retention.length} retention and ` +
      `${policies!.tiering.length} tiering rule(s) in ${policies!.files.length} file(s), ` +
      `${profiles.profiles.size} vendor profile(s)`,
  );
  return 0;
}

async function explain(
  uid: string,
  at: Date | undefined,
  json: boolean,
  log: Log,
): Promise<number> {
  return withTieringApp(log, async (app) => {
    let e: Explanation;
    try {
      e = await app.get(LifecycleService).explain(uid, at);
    } catch (error) {
      if (error instanceof LifecycleError) {
        console.error(`strata: ${error.message}`);
        return 1;
      }
      throw error;
    }
    if (json) {
      console.log(JSON.stringify(e, null, 2));
      return 0;
    }
    console.log(renderExplanation(e));
    return 0;
  });
}

/** The explanation as an archivist reads it. */
export function renderExplanation(e: Explanation): string {
  if (e.state === 'purged') {
    return [
      `study ${e.studyInstanceUid}: purged on ${e.purgedAt.slice(0, 10)}`,
      `  expired ${e.expiredAt?.slice(0, 10) ?? '?'}; deletion certificate ${e.deletionCertificate ?? '?'}`,
    ].join('\n');
  }
  const lines: string[] = [];
  lines.push(`study ${e.studyInstanceUid} (${e.state}), as of ${e.at.slice(0, 10)}`);
  lines.push(`  policies: version ${e.policyVersion.slice(0, 12)}`);
  lines.push(`  tiers now: ${e.tiering.current.join(', ') || 'none'}`);
  const r = e.retention;
  lines.push(
    r.forever
      ? `  retention: kept indefinitely${r.rule ? ` (rule ${r.rule})` : ' (no retention rule matched)'}`
      : `  retention: until ${r.until} (rule ${r.rule})${r.ended ? ': ENDED' : ''}`,
  );
  for (const m of r.matched) {
    lines.push(`    ${m.won ? 'won ' : 'lost'} ${m.rule} (${m.file}): ${m.computation}`);
    for (const why of m.why) lines.push(`         because ${why}`);
    if (m.undetermined) lines.push(`         undetermined: ${m.undetermined}`);
  }
  for (const n of r.notMatched) lines.push(`    no   ${n.rule} (${n.file}): ${n.why}`);
  const t = e.tiering;
  for (const d of t.due)
    lines.push(`  move due: ${d.from} → ${d.to} since ${d.dueOn} (rule ${d.rule})`);
  lines.push(
    t.next
      ? `  next move: ${t.next.from} → ${t.next.to} on ${t.next.dueOn} (rule ${t.next.rule})`
      : '  next move: none',
  );
  lines.push(
    e.holds.length === 0
      ? '  legal holds: none'
      : `  legal holds: ${e.holds.map((h) => `#${h.id} (${h.reason})`).join(', ')}`,
  );
  if (e.expiredAt) lines.push(`  expired ${e.expiredAt.slice(0, 10)}; purge from ${e.purgeOn}`);
  const a = e.action;
  lines.push(
    `  action now: ${
      a.kind === 'blocked'
        ? `${a.by} blocked by hold(s) ${a.holds.join(', ')}`
        : a.kind === 'expire'
          ? `expire (rule ${a.rule ?? '?'})`
          : a.kind
    }`,
  );
  return lines.join('\n');
}

async function simulateCommand(
  months: number,
  proposed: string | null,
  json: boolean,
  log: Log,
): Promise<number> {
  return withTieringApp(log, async (app) => {
    const bar = new SingleBar(
      { format: 'reading the catalog |{bar}| {value} patients', hideCursor: true },
      Presets.shades_classic,
    );
    bar.start(0, 0);
    let report: SimulationReport;
    try {
      report = await app.get(SimulationService).run(months, proposed, (n) => {
        bar.setTotal(n);
        bar.update(n);
      });
    } catch (error) {
      bar.stop();
      if (error instanceof PolicyValidationError) {
        console.error(`strata: the proposed policies are not valid:\n${error.message}`);
        return 1;
      }
      throw error;
    }
    bar.stop();
    if (json) {
      console.log(JSON.stringify(report, null, 2));
      return 0;
    }
    console.log(renderSimulation(report));
    return 0;
  });
}

function gb(bytes: number): string {
  return (bytes / 1e9).toFixed(2);
}

/** Month by month, current and proposed side by side. */
export function renderSimulation(r: SimulationReport): string {
  const head =
    'month       hot (studies/GB)   warm (studies/GB)  cold (studies/GB)  expiries purges blocked';
  const row = (m: SimulationReport['current']['months'][number]) =>
    `${m.date}  ${`${m.tiers.hot.studies}/${gb(m.tiers.hot.bytes)}`.padStart(17)}  ${`${m.tiers.warm.studies}/${gb(m.tiers.warm.bytes)}`.padStart(17)}  ${`${m.tiers.cold.studies}/${gb(m.tiers.cold.bytes)}`.padStart(17)}  ${String(m.expiries).padStart(8)} ${String(m.purges).padStart(6)} ${String(m.blocked.expiries + m.blocked.purges).padStart(7)}`;
  const lines = [
    `simulation from ${r.start.slice(0, 10)} over ${r.months} month(s): ${r.studies} studies, ${gb(r.bytes)} GB`,
    '',
    `current policies (${r.current.dir}, version ${r.current.policyVersion.slice(0, 12)})`,
    head,
    ...r.current.months.map(row),
  ];
  if (r.proposed) {
    lines.push(
      '',
      `proposed policies (${r.proposed.dir}, version ${r.proposed.policyVersion.slice(0, 12)})`,
      head,
      ...r.proposed.months.map(row),
    );
  }
  const holds = new Set(r.current.months.flatMap((m) => m.blocked.holds));
  if (holds.size > 0) lines.push('', `holds blocking deletions: ${[...holds].join(', ')}`);
  return lines.join('\n');
}

export const actor = () => ({ actor: `cli:${userInfo().username}`, actorHost: hostname() });
