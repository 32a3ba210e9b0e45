import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CHILD_DIST } from './crash-child.js';

export interface CliRun {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (buildServer first); resolves with its exit code and output. */
export function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(CHILD_DIST, 'src', 'cli', 'main.js'), ...args], {
      env: { ...process.env, ...env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}
