import { execFileSync, spawn } from 'node:child_process';

/**
 * Whether a DICOM peer tool (dcmtk, Orthanc) is installed. In CI STRATA_REQUIRE_INTEROP=1 turns its
 * absence into a failure, so interop tests can never be skipped silently there.
 */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.STRATA_REQUIRE_INTEROP === '1') {
      throw new Error(
        `${name} is required (STRATA_REQUIRE_INTEROP=1) but not installed: apt-get install dcmtk orthanc`,
      );
    }
    return false;
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a dcmtk tool with Nagle off (dcmtk 3.6.7 leaves it on: 40 ms per exchange otherwise). */
export function runTool(cmd: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, TCP_NODELAY: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} timed out after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
