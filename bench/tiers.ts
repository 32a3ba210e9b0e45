/**
 * Tier benchmark (part of `npm run bench`, also alone: `node dist/bench/tiers.js`): a hot → warm
 * move of the ct512k dataset onto s3rver, beside s3rver's raw PutObject rate for the same objects
 * (16 in flight, like the mover) in the same run; then a fixity check of the warm copies. Strata
 * runs in this process with its embedded PostgreSQL; s3rver too. Written to
 * bench/results/<date>-tiers-<git>.md|json.
 *
 *   BENCH_TIERS_INSTANCES=600   how many ct512k instances to use
 *   BENCH_KEY_STUDIES=10000     study keys made for the key rotation measurement (bench/keys.ts)
 *   BENCH_TIERS_RUNS=3          raw PUT + move runs (medians reported)
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { tuneHeapForShortLivedBuffers } from '../src/heap-settings.js';
import { startStrata } from '../src/strata.js';
import { DATASET_SPECS, ensureDataset } from './datasets.js';
import { measureKeyRotation } from './keys.js';
import { describeMachine, gitState } from './report.js';
import { stowAll } from './stow.js';

const log = (line: string) => console.error(`[bench:tiers] ${line}`);
const TOKEN = 'bench-admin-token-0123456789';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const PUTS_IN_FLIGHT = 16;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== '.tmp') out.push(...(await filesUnder(full)));
    } else if ((await stat(full)).size > 0) out.push(full);
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let n = 0; n < 100; n++) {
    const open = await new Promise<boolean>((done) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.end();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    // Often: each study is a job, and the wait after its end would count as move time.
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`s3rver did not listen on port ${port}`);
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as Record<string, unknown>;
}

async function waitJob(base: string, id: string): Promise<Record<string, unknown>> {
  for (;;) {
    const job = await api(base, 'GET', `/api/jobs/${id}`);
    if (job.status === 'done' || job.status === 'failed') return job;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runTierBench(root: string): Promise<{ md: string; json: string }> {
  // Strata runs in this process: with the heap setting its server entry point applies.
  tuneHeapForShortLivedBuffers();
  const work = mkdtempSync(join(tmpdir(), 'strata-bench-tiers-'));
  // The embedded PostgreSQL runs as 'postgres' when we are root: it must traverse this folder.
  chmodSync(work, 0o755);
  const s3dir = join(work, 's3');
  await mkdir(s3dir);
  // s3rver in its own process, as any S3 server would be: its work does not share Strata's thread.
  const port = await freePort();
  const s3 = spawn(
    process.execPath,
    [
      join(root, 'node_modules', 's3rver', 'bin', 's3rver.js'),
      '-d',
      s3dir,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--silent',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  for (const Bucket of ['warm', 'raw']) await client.send(new CreateBucketCommand({ Bucket }));
  const dataDir = join(work, 'strata');
  await mkdir(join(dataDir, 'policies'), { recursive: true });
  const configPath = join(work, 'strata.yaml');
  await writeFile(
    configPath,
    `storage:
  backends:
    local: { type: filesystem, path: '${join(dataDir, 'objects', 'hot')}' }
    archive: { type: s3, bucket: warm, endpoint: '${endpoint}', forcePathStyle: true, accessKeyId: S3RVER, secretAccessKey: S3RVER }
  tiers:
    hot: { backend: local }
    warm: { backend: archive, storageClass: STANDARD_IA }
fixity: { schedule: 'off' }
`,
  );
  const config = loadConfig({
    STRATA_DATA_DIR: dataDir,
    STRATA_CONFIG: configPath,
    STRATA_POLICIES_DIR: join(dataDir, 'policies'),
    STRATA_HTTP_PORT: '0',
    STRATA_DICOM_PORT: '0',
    STRATA_BIND_HOST: '127.0.0.1',
    STRATA_ADMIN_TOKEN: TOKEN,
    STRATA_KEY_PASSPHRASE: 'bench-passphrase',
    STRATA_LOG_LEVEL: 'warn',
  });
  let strata = await startStrata(config);
  try {
    const spec = DATASET_SPECS.find((d) => d.name === 'ct512k')!;
    const dataset = await ensureDataset(spec, join(root, 'bench', '.work', 'datasets'), log);
    const limit = Number(process.env.BENCH_TIERS_INSTANCES ?? dataset.files.length);
    const files = dataset.files.slice(0, limit);
    const stowed = await stowAll({
      url: `${strata.httpUrl}/dicomweb/studies`,
      headers: { authorization: `Bearer ${TOKEN}` },
      files: files.map((f) => ({ ...f, path: join(dataset.dir, f.path) })),
      concurrency: 4,
      instancesPerRequest: 10,
      timeoutMs: 600_000,
    });
    if (stowed.failures.length > 0) throw new Error(`STOW-RS failed: ${stowed.failures[0]}`);
    log(`stored ${files.length} instances`);
    const studies = [...new Set(files.map((f) => f.study))];

    // The raw rate first, on the very objects the move will copy (ciphertext, as stored).
    const objects = await filesUnder(join(dataDir, 'objects', 'hot'));
    const bodies = await Promise.all(objects.map((f) => readFile(f)));
    const bytes = bodies.reduce((n, b) => n + b.length, 0);
    // As many PUTs in flight as the mover has objects in flight (16; s3rver's raw rate is the same
    // with 4: it is bound by its own core).
    const rawPut = async (prefix: string): Promise<number> => {
      const started = performance.now();
      let next = 0;
      const put = async (): Promise<void> => {
        for (let n = next++; n < bodies.length; n = next++) {
          await client.send(
            new PutObjectCommand({ Bucket: 'raw', Key: `${prefix}/${n}.pgp`, Body: bodies[n]! }),
          );
        }
      };
      await Promise.all(Array.from({ length: PUTS_IN_FLIGHT }, put));
      return (performance.now() - started) / 1000;
    };
    const moveAll = async (tier: string): Promise<number> => {
      const started = performance.now();
      for (const study of studies) {
        const job = await api(strata.httpUrl, 'POST', `/api/studies/${study}/move`, { tier });
        const end = await waitJob(strata.httpUrl, String(job.id));
        if (end.status !== 'done') throw new Error(`move of a study failed: ${String(end.error)}`);
      }
      return (performance.now() - started) / 1000;
    };
    // Each run: the raw PUTs, then the move, back to back (this disk's speed drifts over minutes);
    // between runs the study goes back to hot (also timed).
    const runs = Number(process.env.BENCH_TIERS_RUNS ?? 3);
    const rawRuns: number[] = [];
    const moveRuns: number[] = [];
    const backRuns: number[] = [];
    for (let r = 0; r < runs; r++) {
      if (r > 0) backRuns.push(await moveAll('hot'));
      rawRuns.push(await rawPut(`raw${r}`));
      moveRuns.push(await moveAll('warm'));
      log(
        `run ${r + 1}: raw PutObject ${rawRuns[r]!.toFixed(2)} s, move hot → warm ${moveRuns[r]!.toFixed(2)} s`,
      );
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rawSeconds = median(rawRuns);
    const moveSeconds = median(moveRuns);
    const ratios = rawRuns.map((raw, r) => raw / moveRuns[r]!);
    const ratio = median(ratios);

    let t = performance.now();
    const fixJob = await api(strata.httpUrl, 'POST', '/api/fixity', { tier: 'warm', deep: true });
    const fix = await waitJob(strata.httpUrl, String(fixJob.id));
    const fixSeconds = (performance.now() - t) / 1000;
    const fixResult = fix.result as { checked: number; ok: number };
    log(`deep fixity of warm: ${fixResult.checked} copies in ${fixSeconds.toFixed(2)} s`);
    t = performance.now();
    const headJob = await api(strata.httpUrl, 'POST', '/api/fixity', { tier: 'warm' });
    const head = await waitJob(strata.httpUrl, String(headJob.id));
    const headSeconds = (performance.now() - t) / 1000;
    const headResult = head.result as { checked: number; ok: number; byChecksum: number };
    log(`fixity of warm by checksum: ${headResult.checked} copies in ${headSeconds.toFixed(2)} s`);

    const rotation = await measureKeyRotation(
      strata,
      Number(process.env.BENCH_KEY_STUDIES ?? 10_000),
      async () => {
        await strata.close();
        strata = await startStrata(config);
        return strata;
      },
      TOKEN,
      log,
    );

    const date = new Date().toISOString();
    const git = await gitState(root);
    const machine = await describeMachine();
    const mb = bytes / 1e6;
    const result = {
      date,
      git,
      machine,
      objects: objects.length,
      megabytes: Number(mb.toFixed(1)),
      rawPutObject: { seconds: rawSeconds, mbPerSecond: mb / rawSeconds },
      moveHotToWarm: {
        seconds: moveSeconds,
        mbPerSecond: mb / moveSeconds,
        studies: studies.length,
      },
      moveVsRaw: ratio,
      runs: rawRuns.map((raw, r) => ({
        rawSeconds: raw,
        moveSeconds: moveRuns[r],
        moveVsRaw: ratios[r],
        backToHotSeconds: backRuns[r - 1] ?? null,
      })),
      fixityWarm: {
        seconds: fixSeconds,
        copiesPerSecond: fixResult.checked / fixSeconds,
        mbPerSecond: mb / fixSeconds,
        ok: fixResult.ok,
      },
      fixityWarmByChecksum: {
        seconds: headSeconds,
        copiesPerSecond: headResult.checked / headSeconds,
        byChecksum: headResult.byChecksum,
        ok: headResult.ok,
      },
      keyRotation: rotation,
    };
    const md = `# Strata tier and key benchmark, ${date}

git: ${git.label}; ${machine.cpuModel} × ${machine.cpuCount}, ${machine.totalMemoryGB} GB, kernel ${machine.kernel}, Node ${machine.node}.
s3rver 3.7.1 on 127.0.0.1 in a process of its own; Strata (embedded PostgreSQL) in the benchmark's process; ${objects.length} objects (ct512k, encrypted as stored), ${mb.toFixed(1)} MB (10^6 bytes). ${runs} runs, each the raw PUTs then the move back to back; medians (of seconds, and of the per-run ratio).

| what | seconds | MB/s | |
| --- | ---: | ---: | --- |
| s3rver PutObject, same objects, ${PUTS_IN_FLIGHT} in flight | ${rawSeconds.toFixed(2)} | ${(mb / rawSeconds).toFixed(1)} | reference |
| move hot (filesystem) → warm (s3rver), ${studies.length} studies | ${moveSeconds.toFixed(2)} | ${(mb / moveSeconds).toFixed(1)} | ${(100 * ratio).toFixed(0)} % of raw (target ≥ 70 %); per run ${ratios.map((x) => `${(100 * x).toFixed(0)} %`).join(', ')} |
| move warm → hot (s3rver → filesystem), between runs | ${backRuns.length ? median(backRuns).toFixed(2) : '-'} | ${backRuns.length ? (mb / median(backRuns)).toFixed(1) : '-'} | the source decrypted to its digest on the side; the copy confirmed by fdatasync and its size |
| fixity check of the warm copies, --deep (read, decrypt, digest) | ${fixSeconds.toFixed(2)} | ${(mb / fixSeconds).toFixed(1)} | ${(fixResult.checked / fixSeconds).toFixed(0)} copies/s, ${fixResult.ok} of ${fixResult.checked} good |
| fixity check of the warm copies by their S3 ETag (HEAD) | ${headSeconds.toFixed(2)} | | ${(headResult.checked / headSeconds).toFixed(0)} copies/s, ${headResult.byChecksum} by checksum, ${headResult.ok} of ${headResult.checked} good |

Key rotation (new archive key, every study's session key re-wrapped for it; catalog rows only): ${rotation.studies} studies in ${rotation.seconds.toFixed(2)} s, **${rotation.studiesPerSecond.toFixed(0)} studies/s** (target: 10,000 studies in under 30 s, i.e. ≥ 334 studies/s).

A move (16 objects in flight) streams each object once: the ciphertext goes to the new tier while the same bytes are decrypted to the blob's digest on the side (a damaged source is not moved), and s3rver's ETag (the MD5 of what it stored) is checked against the MD5 of what was sent, so the copy is verified without reading it back. Three commits per object: plans a batch at a time, the location switch (new added, old removed) in one statement, 'done' marks a batch at a time. The raw figure does none of that work (no decryption, no digest, no catalog), and s3rver takes one of the two cores.
`;
    const dir = join(root, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const base = join(dir, `${date.replace(/:/g, '').replace(/\.\d+Z$/, 'Z')}-tiers-${git.label}`);
    await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(`${base}.md`, md);
    console.log(md);
    return { md: `${base}.md`, json: `${base}.json` };
  } finally {
    await strata.close();
    client.destroy();
    s3.kill();
    rmSync(work, { recursive: true, force: true });
  }
}

const isMain = resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
if (isMain) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  runTierBench(root).catch((error: unknown) => {
    console.error(`[bench:tiers] ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 1;
  });
}
