import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KeyJobs, type RewrapResult } from '../keys/index.js';
import { KeyRingError, KeyService } from '../storage/index.js';
import { type Job } from '../tiering/index.js';
import { followJob, withTieringApp } from './tiering-app.js';

export const KEYS_USAGE = `usage: strata keys <list | add-recipient KEYFILE | rotate [--resume] | retire KEYID>

  list                    the key ring: archive and escrow keys, and how many studies each opens
  add-recipient KEYFILE   add an escrow key (armored OpenPGP, X25519/X448); every study's session
                          key is wrapped for it too, so the escrow's private key alone can read
                          any exported or stored object
  rotate                  make a new archive key (same passphrase, in the key folder) and re-wrap
                          every study's session key for it; an interrupted rotation is resumed
  rotate --resume         finish an interrupted re-wrap (or check every study) without a new key
  retire KEYID            remove a key (fingerprint or 16-hex key ID): its wrapped session keys
                          are deleted from the catalog; refused for the current archive key and
                          for an archive key some study is wrapped for alone

All are catalog changes, audited; stored objects are never rewritten, and reads go on throughout.
Exits 0 on success, 1 when refused or failed, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${KEYS_USAGE}`);
  return 2;
}

const actor = () => ({ actor: `cli:${userInfo().username}`, actorHost: hostname() });

export async function keysCommand(argv: string[], log: Log): Promise<number> {
  let parsed: { values: { resume?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { resume: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [sub, arg, ...extra] = parsed.positionals;
  if (extra.length > 0) return usageError(`unexpected argument '${extra[0]}'`);
  const needsArg = sub === 'add-recipient' || sub === 'retire';
  if (needsArg && !arg)
    return usageError(`'keys ${sub}' needs ${sub === 'retire' ? 'KEYID' : 'KEYFILE'}`);
  if (!needsArg && arg) return usageError(`unexpected argument '${arg}'`);
  if (parsed.values.resume && sub !== 'rotate') return usageError('--resume goes with rotate');
  let armored: string | null = null;
  if (sub === 'add-recipient') {
    try {
      armored = await readFile(resolve(arg!), 'utf8');
    } catch (error) {
      console.error(
        `strata: cannot read ${arg}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
      return 1;
    }
  }
  if (!['list', 'add-recipient', 'rotate', 'retire'].includes(sub ?? '')) {
    return usageError(sub ? `unknown keys command '${sub}'` : 'which keys command?');
  }
  return withTieringApp(log, async (app) => {
    const jobs = app.get(KeyJobs);
    const keys = app.get(KeyService);
    try {
      switch (sub) {
        case 'list':
          return await list(keys);
        case 'add-recipient': {
          const r = await jobs.addRecipient(armored!, resolve(arg!), actor());
          if (r.hadPrivate) {
            log.warn(
              `${arg} holds a private key: only its public half was kept; keep the private key offline`,
            );
          }
          console.log(
            r.added
              ? `added the escrow key ${r.fingerprint}`
              : `the key ${r.fingerprint} was already in the key ring: checking every study is wrapped for it`,
          );
          return await follow(jobs, r.job);
        }
        case 'rotate': {
          if (parsed.values.resume) {
            const r = await jobs.resume(actor());
            console.log(
              r.resumed
                ? `resuming re-wrap job ${r.job.id}`
                : `checking every study (job ${r.job.id})`,
            );
            return await follow(jobs, r.job);
          }
          const r = await jobs.rotate(actor());
          console.log(
            r.resumed
              ? `an interrupted re-wrap (job ${r.job.id}) is finished first; run 'strata keys rotate' again afterwards for another new key`
              : `new archive key ${r.fingerprint}; re-wrapping every study for it (job ${r.job.id})`,
          );
          return await follow(jobs, r.job);
        }
        default: {
          const r = await jobs.retire(arg!, actor());
          console.log(
            `retired ${r.fingerprint}: ${r.studyKeysRemoved} wrapped session keys removed`,
          );
          return 0;
        }
      }
    } catch (error) {
      if (error instanceof KeyRingError || error instanceof Error) {
        console.error(`strata: ${error.message}`);
        return 1;
      }
      throw error;
    }
  });
}

async function follow(jobs: KeyJobs, job: Job): Promise<number> {
  const end = await followJob('re-wrapping', () => jobs.getJob(job.id), jobs.idle(), 'studies');
  const r = (end.result ?? {}) as Partial<RewrapResult>;
  if (end.status !== 'done') {
    console.error(`strata: re-wrap job ${end.id} failed: ${end.error ?? 'unknown error'}`);
    return 1;
  }
  console.log(
    `job ${end.id}: ${r.studies ?? 0} studies checked, ${r.added ?? 0} session keys wrapped`,
  );
  return 0;
}

async function list(keys: KeyService): Promise<number> {
  const ring = await keys.ring.list();
  console.log(`${ring.studies} studies with a session key`);
  for (const r of ring.recipients) {
    const flags = [
      r.role,
      r.status,
      r.current ? 'current' : '',
      r.heldHere ? 'private key here' : '',
    ]
      .filter(Boolean)
      .join(', ');
    console.log(`${r.fingerprint}  ${flags}  ${r.studies}/${ring.studies} studies`);
  }
  return 0;
}
