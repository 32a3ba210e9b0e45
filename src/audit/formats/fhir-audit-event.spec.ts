import { describe, expect, it } from 'vitest';
import { type AuditRow } from '../audit-event.js';
import { renderFhirAuditEvent } from './fhir-audit-event.js';
import { auditRow, sampleRows } from './testing/sample-rows.js';

const SOURCE = { aeTitle: 'STRATA', host: 'archive.example.org', siteId: null };
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PROFILE = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';

type Coding = { system?: string; code?: string; display?: string };
type Agent = {
  type?: { coding: Coding[] };
  role?: unknown[];
  who?: { identifier?: { value?: string }; reference?: string };
  requestor?: boolean;
  network?: { address?: string; type?: string };
  media?: unknown;
  altId?: unknown;
  name?: unknown;
  location?: unknown;
  policy?: unknown;
  purposeOfUse?: unknown;
};
type Entity = {
  what?: { type?: string; identifier?: { system?: string; value?: string }; reference?: string };
  type?: Coding;
  role?: Coding;
  lifecycle?: unknown;
  securityLabel?: unknown;
  name?: string;
  query?: string;
  detail?: unknown[];
  description?: string;
};
type Event = {
  resourceType: string;
  meta?: { profile?: string[] };
  type: Coding;
  subtype?: Coding[];
  action?: string;
  recorded?: string;
  outcome?: string;
  agent: Agent[];
  source: { observer?: unknown; type?: Coding[] };
  entity?: Entity[];
};

const fhir = (row: AuditRow) => renderFhirAuditEvent(row, SOURCE) as unknown as Event;
const isType = (a: Agent, system: string, code: string) =>
  a.type?.coding.some((c) => c.system === system && c.code === code) ?? false;

/** FHIR R4 AuditEvent's own cardinalities and invariants (sev-1), whatever the profile. */
function checkR4(e: Event): void {
  expect(e.resourceType).toBe('AuditEvent');
  expect(e.type.system && e.type.code).toBeTruthy();
  expect(e.recorded).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  expect(['C', 'R', 'U', 'D', 'E']).toContain(e.action);
  expect(['0', '4', '8', '12']).toContain(e.outcome);
  expect(e.agent.length).toBeGreaterThanOrEqual(1);
  for (const a of e.agent) {
    expect(typeof a.requestor).toBe('boolean');
    if (a.network) expect(['1', '2', '3', '4', '5']).toContain(a.network.type);
  }
  expect(e.source.observer).toBeTruthy();
  for (const x of e.entity ?? []) {
    expect(
      x.name !== undefined && x.query !== undefined,
      'sev-1: a name or a query, not both',
    ).toBe(false);
  }
}

/**
 * IHE BALP (ITI Basic Audit Log Patterns, FHIR R4) profiles' required elements, as their
 * StructureDefinitions state them: Create, Read, Update, Query, Delete and their Patient variants.
 */
function checkBalp(e: Event, name: string): void {
  const interaction = (
    {
      Create: 'create',
      Read: 'read',
      Update: 'update',
      Query: 'search',
      Delete: 'delete',
    } as Record<string, string>
  )[name.replace(/^Patient/, '')]!;
  const withPatient = name.startsWith('Patient');
  expect(e.type).toMatchObject({
    system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
    code: 'rest',
  });
  const restful = (e.subtype ?? []).filter(
    (s) => s.system === 'http://hl7.org/fhir/restful-interaction',
  );
  expect(restful.map((s) => s.code)).toEqual([interaction]);
  expect(e.action).toBe(
    { create: 'C', read: 'R', update: 'U', search: 'E', delete: 'D' }[interaction],
  );
  expect(e.recorded).toBeTruthy();
  expect(e.outcome).toBe('0');
  const [clientType, serverType] = {
    read: [
      [DCM, '110152'],
      [DCM, '110153'],
    ],
    create: [
      [DCM, '110153'],
      [DCM, '110152'],
    ],
    update: [
      [DCM, '110153'],
      [DCM, '110152'],
    ],
    search: [
      [DCM, '110153'],
      [DCM, '110152'],
    ],
    delete: [
      [DCM, '110150'],
      ['http://terminology.hl7.org/CodeSystem/provenance-participant-type', 'custodian'],
    ],
  }[interaction]!;
  const clients = e.agent.filter((a) => isType(a, clientType![0]!, clientType![1]!));
  const servers = e.agent.filter((a) => isType(a, serverType![0]!, serverType![1]!));
  expect(clients).toHaveLength(1);
  expect(servers).toHaveLength(1);
  for (const a of [clients[0]!, servers[0]!]) {
    expect(a.who?.identifier?.value ?? a.who?.reference).toBeTruthy();
    expect(a.network?.address).toBeTruthy();
    expect(a.network?.type).toBeTruthy();
    expect(a.media).toBeUndefined();
  }
  const entities = e.entity ?? [];
  const ofType = (code: string) => entities.filter((x) => x.type?.code === code);
  const patients = entities.filter(
    (x) =>
      x.type?.system === 'http://terminology.hl7.org/CodeSystem/audit-entity-type' &&
      x.type.code === '1' &&
      x.role?.system === 'http://terminology.hl7.org/CodeSystem/object-role' &&
      x.role.code === '1',
  );
  if (withPatient) {
    expect(patients).toHaveLength(1);
    expect(patients[0]!.what?.type).toBe('Patient');
    expect(patients[0]!.what?.identifier?.value ?? patients[0]!.what?.reference).toBeTruthy();
  }
  if (interaction === 'search') {
    const queries = ofType('2').filter((x) => x.role?.code === '24');
    expect(queries).toHaveLength(1);
    const q = queries[0]!;
    expect(q.what).toBeUndefined();
    expect(q.lifecycle).toBeUndefined();
    expect(q.detail).toBeUndefined();
    expect(q.query).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    return;
  }
  const data = ofType('2');
  expect(data).toHaveLength(1);
  expect(['4', '3', '20']).toContain(data[0]!.role?.code);
  expect(data[0]!.what).toBeTruthy();
  if (interaction === 'delete') {
    // Closed slicing: exactly the subtype delete, the client and server (a human at most), the
    // patient and the data, and none of the elements the profile forbids.
    expect(e.subtype).toHaveLength(1);
    expect(e.agent.length).toBeLessThanOrEqual(3);
    const c = clients[0]!;
    for (const k of [
      'role',
      'altId',
      'name',
      'location',
      'policy',
      'media',
      'purposeOfUse',
    ] as const) {
      expect(c[k], `client.${k}`).toBeUndefined();
    }
    expect(entities).toHaveLength(withPatient ? 2 : 1);
    for (const k of ['lifecycle', 'name', 'query', 'detail'] as const) {
      expect(data[0]![k], `data.${k}`).toBeUndefined();
      if (withPatient) expect(patients[0]![k], `patient.${k}`).toBeUndefined();
    }
  }
}

describe('FHIR R4 AuditEvent following IHE BALP', () => {
  const rows = sampleRows();
  const update = auditRow({
    action: 'hold.placed',
    actor: 'archivist-token',
    role: 'archivist',
    patientId: 'PID-42',
    studyInstanceUid: '1.2.3.4',
    detail: { hold: 'H2', reason: 'litigation', method: 'POST', path: '/api/holds' },
  });

  const expected: [string, AuditRow, string][] = [
    ['STOW-RS store', rows['stow-rs']!, 'PatientCreate'],
    ['WADO-RS retrieve', rows['wado-rs']!, 'PatientRead'],
    ['WADO-RS metadata', rows['wado-rs metadata']!, 'PatientRead'],
    ['QIDO-RS search', rows['qido-rs']!, 'Query'],
    ['an expiry through the API', rows['expired by api']!, 'PatientDelete'],
    ['a legal hold through the API', update, 'PatientUpdate'],
  ];
  for (const [what, row, profile] of expected) {
    it(`${what}: claims and satisfies BALP ${profile}`, () => {
      const e = fhir(row);
      checkR4(e);
      expect(e.meta?.profile).toEqual([PROFILE + profile]);
      checkBalp(e, profile);
    });
  }

  it('a QIDO-RS search naming a patient would be a PatientQuery', () => {
    const e = fhir({ ...rows['qido-rs']!, patientId: 'PID-42' });
    expect(e.meta?.profile).toEqual([`${PROFILE}PatientQuery`]);
    checkBalp(e, 'PatientQuery');
  });

  it('every kind of event is a valid R4 AuditEvent with the DICOM codes of its event', () => {
    for (const [name, row] of Object.entries(rows)) {
      const e = fhir(row);
      checkR4(e);
      const codes = [e.type, ...(e.subtype ?? [])]
        .filter((c) => c.system === DCM)
        .map((c) => c.code);
      if (e.type.code !== 'rest' || (e.subtype ?? []).length > 1) {
        expect(
          codes.some((c) => /^1101\d\d$/.test(c ?? '')),
          name,
        ).toBe(true);
      }
      expect(e.recorded).toBe(row.at);
    }
  });

  it('DIMSE events keep the DICOM event as type and claim no RESTful profile', () => {
    const e = fhir(rows['c-move']!);
    expect(e.type).toEqual({ system: DCM, code: '110104', display: 'DICOM Instances Transferred' });
    expect(e.meta).toBeUndefined();
    const alert = fhir(rows['association refused']!);
    expect(alert.type.code).toBe('110113');
    expect(alert.subtype).toEqual([
      { system: DCM, code: '110126', display: 'Node Authentication' },
    ]);
    expect(alert.outcome).toBe('8');
    const login = fhir(rows['auth failed']!);
    expect(login.type.code).toBe('110114');
    expect(login.subtype?.[0]?.code).toBe('110122');
  });

  it('a failed or incomplete RESTful event follows the pattern without claiming it', () => {
    const e = fhir({
      ...rows['wado-rs']!,
      outcome: 'failure',
      detail: { protocol: 'WADO-RS', reason: 'cut' },
    });
    expect(e.meta).toBeUndefined();
    expect(e.type.code).toBe('rest');
    expect(e.outcome).toBe('8');
    expect((e as unknown as { outcomeDesc: string }).outcomeDesc).toBe('cut');
    const noHost = renderFhirAuditEvent(rows['wado-rs']!, {
      ...SOURCE,
      host: null,
    }) as unknown as Event;
    expect(noHost.meta).toBeUndefined();
  });

  it('the study is a DICOM study identifier (urn:dicom:uid), the patient a Patient identifier', () => {
    const e = fhir(rows['c-store']!);
    expect(e.entity).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          what: {
            type: 'ImagingStudy',
            identifier: { system: 'urn:dicom:uid', value: 'urn:oid:1.2.826.0.1.3680043.8.498.1' },
          },
        }),
        expect.objectContaining({ what: { type: 'Patient', identifier: { value: 'PID-42' } } }),
      ]),
    );
  });
});
