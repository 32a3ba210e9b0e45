import { parseArgs } from 'node:util';
import { HoldError, HoldsService, type LegalHold } from '../lifecycle/index.js';
import { actor } from './policy.command.js';
import { withTieringApp } from './tiering-app.js';

export const HOLD_USAGE = `usage: strata hold <place | release ID | list>

  place --patient ID | --study UID --reason TEXT [--case REF] [--custodian WHO] [--review-date YYYY-MM-DD]
                      place a legal hold: no study it covers is expired or purged while it is active
  release ID --reason TEXT
                      release a hold
  list [--all]        active holds (--all: released ones too)

Every change is audited. Exits 0 on success, 1 when refused, 2 on a usage error.`;

type Log = { log: (m: string) => void; warn: (m: string) => void };

function usageError(message: string): number {
  console.error(`strata: ${message}\n\n${HOLD_USAGE}`);
  return 2;
}

function show(h: LegalHold): string {
  const what = h.patientId !== null ? `patient ${h.patientId}` : `study ${h.studyInstanceUid}`;
  const state = h.active ? 'active' : `released ${h.releasedAt!.slice(0, 10)} (${h.releaseReason})`;
  return `#${h.id}  ${what}  ${state}  placed ${h.placedAt.slice(0, 10)} by ${h.placedBy}: ${h.reason}${h.caseReference ? ` [case ${h.caseReference}]` : ''}${h.reviewDate ? ` review ${h.reviewDate}` : ''}`;
}

export async function holdCommand(argv: string[], log: Log): Promise<number> {
  let parsed: {
    values: Record<string, string | boolean | undefined>;
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        patient: { type: 'string' },
        study: { type: 'string' },
        reason: { type: 'string' },
        case: { type: 'string' },
        custodian: { type: 'string' },
        'review-date': { type: 'string' },
        all: { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const [sub, arg, ...extra] = parsed.positionals;
  const v = parsed.values;
  if (extra.length > 0) return usageError(`unexpected argument '${extra[0]}'`);
  if (!['place', 'release', 'list'].includes(sub ?? '')) {
    return usageError(sub ? `unknown hold command '${sub}'` : 'which hold command?');
  }
  if (sub === 'release' && !arg) return usageError("'hold release' needs the hold's ID");
  if (sub !== 'release' && arg) return usageError(`unexpected argument '${arg}'`);
  return withTieringApp(log, async (app) => {
    const holds = app.get(HoldsService);
    try {
      if (sub === 'place') {
        const h = await holds.place(
          {
            ...(v.patient !== undefined ? { patientId: v.patient } : {}),
            ...(v.study !== undefined ? { studyInstanceUid: v.study } : {}),
            reason: v.reason,
            ...(v.case !== undefined ? { caseReference: v.case } : {}),
            ...(v.custodian !== undefined ? { custodian: v.custodian } : {}),
            ...(v['review-date'] !== undefined ? { reviewDate: v['review-date'] } : {}),
          },
          actor(),
        );
        console.log(`placed ${show(h)}`);
      } else if (sub === 'release') {
        const h = await holds.release(arg!, v.reason, actor());
        console.log(`released ${show(h)}`);
      } else {
        const list = await holds.list(v.all ? {} : { active: true });
        if (list.length === 0) console.log(v.all ? 'no holds' : 'no active holds');
        for (const h of list) console.log(show(h));
      }
      return 0;
    } catch (error) {
      if (error instanceof HoldError) {
        console.error(`strata: ${error.message}`);
        return error.status === 400 ? 2 : 1;
      }
      throw error;
    }
  });
}
