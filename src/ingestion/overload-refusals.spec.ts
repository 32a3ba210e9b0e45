import { describe, expect, it } from 'vitest';
import { type AuditEvent, type AuditService } from '../audit/index.js';
import { Registry } from '../metrics/index.js';
import { InFlightBudget } from './in-flight-budget.js';
import { type OverloadRefusal, OverloadRefusals } from './overload-refusals.js';

function setup() {
  const rows: AuditEvent[] = [];
  const audit = { recordAlone: async (e: AuditEvent) => void rows.push(e) } as AuditService;
  const registry = new Registry();
  let now = 0;
  const refusals = new OverloadRefusals(audit, new InFlightBudget(1024), registry, () => now);
  return { rows, registry, refusals, advance: (ms: number) => (now += ms) };
}

const association: OverloadRefusal = {
  protocol: 'DIMSE',
  limit: 'associations',
  actor: 'PACS',
  actorHost: '10.0.0.1',
  calledAet: 'STRATA',
  reason: '64 associations open (limits.maxAssociations: 64)',
};

describe('OverloadRefusals', () => {
  it('audits the first refusal of a minute per limit, counts the rest, and reports them with the next', async () => {
    const { rows, registry, refusals, advance } = setup();
    for (let i = 0; i < 5; i++) await refusals.refused(association);
    await refusals.refused({ ...association, limit: 'in-flight-bytes', reason: 'busy' });
    expect(rows.map((r) => r.detail?.limit)).toEqual(['associations', 'in-flight-bytes']);
    expect(rows[0]).toMatchObject({
      action: 'association.refused',
      outcome: 'failure',
      actor: 'PACS',
      detail: { calledAet: 'STRATA', transient: true, refusedSinceLastReport: 0 },
    });
    advance(60_000);
    await refusals.refused(association);
    expect(rows).toHaveLength(3);
    expect(rows[2]!.detail).toMatchObject({ limit: 'associations', refusedSinceLastReport: 4 });
    const metrics = await registry.metrics();
    expect(metrics).toContain(
      'strata_overload_refusals_total{protocol="DIMSE",limit="associations"} 6',
    );
    expect(metrics).toContain('strata_ingest_in_flight_bytes 0');
  });

  it('never audits STOW-RS 503s, and reports what is left at shutdown', async () => {
    const { rows, refusals } = setup();
    const stow: OverloadRefusal = {
      protocol: 'STOW-RS',
      limit: 'stow-requests',
      actor: 'ris',
      actorHost: null,
      reason: '16 STOW-RS requests in progress',
    };
    await refusals.refused(stow);
    await refusals.refused(stow);
    await refusals.refused(association);
    await refusals.refused(association);
    await refusals.onApplicationShutdown();
    expect(rows.map((r) => [r.action, r.detail?.refusedSinceLastReport])).toEqual([
      ['association.refused', 0],
      ['association.refused', 1],
    ]);
  });
});
