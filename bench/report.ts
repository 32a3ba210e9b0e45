/** Measurements, their medians, the machine description, and the table / JSON / Markdown output. */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { run } from './processes.js';

export const NAGLE_NOTE =
  'storescu run with TCP_NODELAY=1 (dcmtk 3.6.7 leaves Nagle on otherwise; storescp and Orthanc ' +
  'also run with TCP_NODELAY=1)';

export type Protocol = 'C-STORE' | 'STOW-RS';

export interface Measurement {
  receiver: string;
  protocol: Protocol;
  /** e.g. "1 association" or "4 requests in flight, 10 instances each". */
  mode: string;
  dataset: string;
  run: number;
  ok: boolean;
  error?: string;
  instances: number;
  bytes: number;
  seconds: number | null;
  instancesPerSecond: number | null;
  mbPerSecond: number | null;
  stored: number | null;
  countMethod: string | null;
  receiverStartSeconds: number | null;
  peakRssMB: number | null;
  postgres?: {
    processes: number;
    pssPeakMB: number;
    rssSumPeakMB: number;
    hwmSumEndMB: number;
  } | null;
  details?: Record<string, unknown>;
  logFile?: string;
}

export interface Summary {
  receiver: string;
  protocol: Protocol;
  mode: string;
  dataset: string;
  instances: number;
  mb: number;
  runs: number;
  ok: number;
  /** Medians over successful runs (null when none succeeded). */
  seconds: number | null;
  instancesPerSecond: number | null;
  mbPerSecond: number | null;
  mbPerSecondMin: number | null;
  mbPerSecondMax: number | null;
  peakRssMB: number | null;
  postgresPssPeakMB: number | null;
}

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  totalMemoryGB: number;
  os: string;
  kernel: string;
  node: string;
  dcmtk: string;
  orthanc: string;
}

export interface Report {
  date: string;
  git: { sha: string | null; dirty: boolean; label: string };
  note: string;
  machine: Machine;
  settings: Record<string, unknown>;
  datasets: {
    name: string;
    description: string;
    instances: number;
    bytes: number;
    studies: number;
  }[];
  summaries: Summary[];
  measurements: Measurement[];
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(measurements: readonly Measurement[]): Summary[] {
  const groups = new Map<string, Measurement[]>();
  for (const m of measurements) {
    const key = `${m.receiver}\u0000${m.protocol}\u0000${m.dataset}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((runs) => {
    const first = runs[0]!;
    const ok = runs.filter((r) => r.ok && r.seconds !== null);
    const values = (pick: (m: Measurement) => number | null | undefined) =>
      ok.map(pick).filter((v): v is number => typeof v === 'number');
    const mbps = values((m) => m.mbPerSecond);
    const seconds = median(values((m) => m.seconds));
    return {
      receiver: first.receiver,
      protocol: first.protocol,
      mode: first.mode,
      dataset: first.dataset,
      instances: first.instances,
      mb: first.bytes / 1e6,
      runs: runs.length,
      ok: ok.length,
      seconds,
      instancesPerSecond: median(values((m) => m.instancesPerSecond)),
      mbPerSecond: median(mbps),
      mbPerSecondMin: mbps.length ? Math.min(...mbps) : null,
      mbPerSecondMax: mbps.length ? Math.max(...mbps) : null,
      peakRssMB: median(values((m) => m.peakRssMB)),
      postgresPssPeakMB: median(values((m) => m.postgres?.pssPeakMB)),
    };
  });
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? 'unknown'
  );
}

export async function describeMachine(): Promise<Machine> {
  const cpuList = cpus();
  const uname = await run('uname', ['-r']);
  const storescu = await run('storescu', ['--version']);
  const orthanc = await run('/usr/sbin/Orthanc', ['--version']);
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // not Linux
  }
  return {
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cpuCount: cpuList.length,
    totalMemoryGB: Math.round((totalmem() / 1e9) * 10) / 10,
    os,
    kernel: uname.ok ? uname.stdout.trim() : release(),
    node: process.version,
    // "$dcmtk: storescu v3.6.7 2022-04-22 $" -> "storescu v3.6.7 2022-04-22"
    dcmtk: storescu.ok
      ? firstLine(storescu.stdout)
          .replace(/^\$dcmtk:|\$$/g, '')
          .trim()
      : 'not found',
    // "/usr/sbin/Orthanc 1.10.1" -> "Orthanc 1.10.1"
    orthanc: orthanc.ok ? firstLine(orthanc.stdout).replace(/^\S*\//, '') : 'not found',
  };
}

/** Short sha of HEAD, and whether the tree (outside bench results and work files) differs from it. */
export async function gitState(root: string): Promise<Report['git']> {
  const head = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
  const status = await run(
    'git',
    ['status', '--porcelain', '--', '.', ':(exclude)bench/results', ':(exclude)bench/.work'],
    { cwd: root },
  );
  const sha = head.ok ? head.stdout.trim() : null;
  const dirty = !status.ok || status.stdout.trim().length > 0 || sha === null;
  return { sha, dirty, label: dirty || sha === null ? 'dirty' : sha };
}

/** A figure with `digits` decimals, '-' when there is none. */
export const fmt = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '-' : v.toFixed(digits);

const COLUMNS = [
  'receiver',
  'protocol',
  'dataset',
  'instances',
  'MB',
  'seconds',
  'inst/s',
  'MB/s',
  'peak RSS MB',
  '+ PG PSS MB',
  'runs ok',
] as const;

function rows(summaries: readonly Summary[]): string[][] {
  return summaries.map((s) => [
    s.receiver,
    `${s.protocol} (${s.mode})`,
    s.dataset,
    String(s.instances),
    fmt(s.mb),
    fmt(s.seconds, 2),
    fmt(s.instancesPerSecond),
    fmt(s.mbPerSecond),
    fmt(s.peakRssMB, 0),
    s.postgresPssPeakMB === null ? '' : fmt(s.postgresPssPeakMB, 0),
    `${s.ok}/${s.runs}`,
  ]);
}

const NUMERIC = new Set([3, 4, 5, 6, 7, 8, 9]);

/** A plain-text table for the terminal. */
export function textTable(summaries: readonly Summary[]): string {
  const body = rows(summaries);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (NUMERIC.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function markdownTable(
  header: readonly string[],
  body: readonly string[][],
  numeric: Set<number>,
): string {
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(escape).join(' | ')} |`,
    `| ${header.map((_, i) => (numeric.has(i) ? '---:' : '---')).join(' | ')} |`,
    ...body.map((r) => `| ${r.map(escape).join(' | ')} |`),
  ].join('\n');
}

/** Title with the date, the note in bold, the git state and the machine description. */
export function markdownHeader(
  title: string,
  report: Pick<Report, 'date' | 'note' | 'git' | 'machine'>,
): string {
  const m = report.machine;
  const when = `${report.date.slice(0, 10)} ${report.date.slice(11, 16)} UTC`;
  return `# ${title}, ${when}

**${report.note}.**

git: ${report.git.sha ?? 'no commit'}${report.git.dirty ? ' (working tree dirty)' : ''}

## Machine

- CPU: ${m.cpuModel} × ${m.cpuCount}
- Memory: ${m.totalMemoryGB} GB
- OS: ${m.os}, kernel ${m.kernel}
- Node: ${m.node}
- dcmtk: ${m.dcmtk}
- Orthanc: ${m.orthanc}`;
}

/**
 * What auditing costs ingest: Strata against strata-noaudit (the same Strata, its audit appends
 * made no-ops in its own bench database), per dataset and protocol, against the target of 5 %.
 */
function auditCost(summaries: readonly Summary[]): string {
  const lines: string[] = [];
  for (const on of summaries.filter((x) => x.receiver === 'strata')) {
    const off = summaries.find(
      (x) =>
        x.receiver === 'strata-noaudit' && x.protocol === on.protocol && x.dataset === on.dataset,
    );
    if (!off?.instancesPerSecond || !on.instancesPerSecond) continue;
    const cost = 1 - on.instancesPerSecond / off.instancesPerSecond;
    lines.push(
      `- ${on.protocol} ${on.dataset}: ${fmt(on.instancesPerSecond)} instances/s audited, ${fmt(off.instancesPerSecond)} without audit rows: auditing costs ${(cost * 100).toFixed(1)} % (target < 5 %: ${cost < 0.05 ? 'pass' : '**FAIL**'})`,
    );
  }
  if (lines.length === 0) return '';
  return `
### Auditing's cost on ingest

\`strata-noaudit\` is Strata with \`strata_audit_append\` replaced by a no-op in its own bench database once it has started (the archive itself has no switch to turn auditing off): the audit rows' SQL work (chain lock, hash, insert, indexes) is gone, the canonical encoding in Node stays. Medians of the runs above; run-to-run noise on this machine is a few percent, so a small negative cost means no measurable difference.

${lines.join('\n')}
`;
}

export function markdown(report: Report): string {
  const runRows = report.measurements.map((r) => [
    r.receiver,
    r.protocol,
    r.dataset,
    String(r.run),
    r.ok ? 'ok' : 'FAILED',
    fmt(r.seconds, 2),
    fmt(r.instancesPerSecond),
    fmt(r.mbPerSecond),
    fmt(r.peakRssMB, 0),
    r.postgres ? fmt(r.postgres.pssPeakMB, 0) : '',
    r.stored === null ? '-' : `${r.stored}/${r.instances}`,
    fmt(r.receiverStartSeconds, 1),
    (r.error ?? '').replace(/\s+/g, ' ').slice(0, 200),
  ]);
  return `${markdownHeader('Strata ingest benchmark', report)}

## Results (medians of ${String(report.settings.repeat)} run(s), each into a fresh receiver)

${NAGLE_NOTE}. MB = 10^6 bytes of Part 10 files sent; seconds = wall clock of storescu (process start to exit) or of all STOW-RS requests; peak RSS = VmHWM of the receiver's main process; "+ PG PSS MB" = peak of the summed PSS of Strata's embedded PostgreSQL processes (sampled every 0.5 s), on top of Strata's own RSS.

${markdownTable(COLUMNS, rows(report.summaries), NUMERIC)}
${auditCost(report.summaries)}
## Datasets

${report.datasets
  .map(
    (d) =>
      `- **${d.name}**: ${d.instances} instances, ${(d.bytes / 1e6).toFixed(1)} MB, ${d.studies} studies (${d.description})`,
  )
  .join('\n')}

## Every run

${markdownTable(
  [
    'receiver',
    'protocol',
    'dataset',
    'run',
    'result',
    'seconds',
    'inst/s',
    'MB/s',
    'peak RSS MB',
    'PG PSS MB',
    'stored',
    'start s',
    'error',
  ],
  runRows,
  new Set([3, 5, 6, 7, 8, 9, 11]),
)}

Settings: \`${JSON.stringify(report.settings)}\`
`;
}

export async function writeReport(
  dir: string,
  report: Report,
): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const stamp = report.date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z');
  const base = join(dir, `${stamp}-${report.git.label}`);
  const json = `${base}.json`;
  const md = `${base}.md`;
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(md, markdown(report));
  return { json, md };
}
