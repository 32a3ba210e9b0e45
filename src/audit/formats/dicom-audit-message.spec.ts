import { describe, expect, it } from 'vitest';
import { type AuditRow } from '../audit-event.js';
import { renderDicomAuditMessage } from './dicom-audit-message.js';
import { childrenNamed, parseXml, type XmlNode } from './testing/parse-xml.js';
import { auditRow, sampleRows } from './testing/sample-rows.js';

const SOURCE = { aeTitle: 'STRATA', host: 'archive.example.org', siteId: 'Hospital A' };
const render = (row: AuditRow) => parseXml(renderDicomAuditMessage(row, SOURCE));

/** PS3.15 A.5.1: the schema's element order, cardinalities and enumerated attribute values. */
function checkSchema(m: XmlNode): void {
  expect(m.name).toBe('AuditMessage');
  const names = m.children.map((c) => c.name);
  expect(names[0]).toBe('EventIdentification');
  const firstSource = names.indexOf('AuditSourceIdentification');
  expect(names.filter((n) => n === 'AuditSourceIdentification')).toHaveLength(1);
  expect(firstSource).toBeGreaterThan(1);
  expect(names.slice(1, firstSource).every((n) => n === 'ActiveParticipant')).toBe(true);
  expect(names.slice(firstSource + 1).every((n) => n === 'ParticipantObjectIdentification')).toBe(
    true,
  );

  const ev = m.children[0]!;
  expect(ev.attributes.EventDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  expect(['0', '4', '8', '12']).toContain(ev.attributes.EventOutcomeIndicator);
  expect(['C', 'R', 'U', 'D', 'E']).toContain(ev.attributes.EventActionCode);
  const evNames = ev.children.map((c) => c.name);
  expect(evNames[0]).toBe('EventID');
  expect(evNames.filter((n) => n === 'EventID')).toHaveLength(1);
  const outcomeAt = evNames.indexOf('EventOutcomeDescription');
  if (outcomeAt >= 0) expect(outcomeAt).toBe(evNames.length - 1);
  for (const c of ev.children.filter((c) => c.name !== 'EventOutcomeDescription')) coded(c);

  for (const p of childrenNamed(m, 'ActiveParticipant')) {
    expect(p.attributes.UserID).toBeTruthy();
    expect(['true', 'false']).toContain(p.attributes.UserIsRequestor);
    if (p.attributes.NetworkAccessPointTypeCode !== undefined) {
      expect(['1', '2', '3', '4', '5']).toContain(p.attributes.NetworkAccessPointTypeCode);
      expect(p.attributes.NetworkAccessPointID).toBeTruthy();
    }
    const kids = p.children.map((c) => c.name);
    const media = kids.indexOf('MediaIdentifier');
    if (media >= 0) {
      expect(media).toBe(kids.length - 1);
      coded(childrenNamed(p.children[media]!, 'MediaType')[0]!);
    }
    for (const r of childrenNamed(p, 'RoleIDCode')) coded(r);
    expect(kids.every((k) => k === 'RoleIDCode' || k === 'MediaIdentifier')).toBe(true);
  }

  const src = childrenNamed(m, 'AuditSourceIdentification')[0]!;
  expect(src.attributes.AuditSourceID).toBe('STRATA');
  expect(src.children.every((c) => c.name === 'AuditSourceTypeCode')).toBe(true);

  for (const o of childrenNamed(m, 'ParticipantObjectIdentification')) {
    expect(o.attributes.ParticipantObjectID).toBeTruthy();
    if (o.attributes.ParticipantObjectTypeCode !== undefined) {
      expect(['1', '2', '3', '4']).toContain(o.attributes.ParticipantObjectTypeCode);
    }
    const role = o.attributes.ParticipantObjectTypeCodeRole;
    if (role !== undefined) expect(Number(role)).toBeGreaterThanOrEqual(1);
    if (role !== undefined) expect(Number(role)).toBeLessThanOrEqual(26);
    const life = o.attributes.ParticipantObjectDataLifeCycle;
    if (life !== undefined) expect(Number(life)).toBeGreaterThanOrEqual(1);
    if (life !== undefined) expect(Number(life)).toBeLessThanOrEqual(15);
    const kids = o.children.map((c) => c.name);
    expect(kids[0]).toBe('ParticipantObjectIDTypeCode');
    coded(o.children[0]!);
    const order = [
      'ParticipantObjectIDTypeCode',
      'ParticipantObjectName|ParticipantObjectQuery',
      'ParticipantObjectDetail',
      'ParticipantObjectDescription',
    ];
    const rank = (n: string) => order.findIndex((o) => o.split('|').includes(n));
    const ranks = kids.map(rank);
    expect(ranks.every((r) => r >= 0)).toBe(true);
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    expect(
      kids.filter((k) => k === 'ParticipantObjectName' || k === 'ParticipantObjectQuery').length,
    ).toBeLessThanOrEqual(1);
    for (const d of childrenNamed(o, 'ParticipantObjectDetail')) {
      expect(d.attributes.type).toBeTruthy();
      expect(d.attributes.value).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
    }
    for (const q of childrenNamed(o, 'ParticipantObjectQuery')) {
      expect(q.text).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    }
    for (const desc of childrenNamed(o, 'ParticipantObjectDescription')) {
      for (const sop of childrenNamed(desc, 'SOPClass')) {
        expect(sop.attributes.NumberOfInstances).toMatch(/^\d+$/);
        expect(sop.children.every((c) => c.name === 'Instance' && c.attributes.UID)).toBe(true);
      }
    }
  }
}

/** CodedValueType: csd-code, codeSystemName and originalText are required. */
function coded(c: XmlNode): void {
  expect(c.attributes['csd-code'], c.name).toBeTruthy();
  expect(c.attributes.codeSystemName, c.name).toBeTruthy();
  expect(c.attributes.originalText, c.name).toBeTruthy();
}

const eventId = (m: XmlNode) => childrenNamed(m.children[0]!, 'EventID')[0]!.attributes['csd-code'];
const typeCodes = (m: XmlNode) =>
  childrenNamed(m.children[0]!, 'EventTypeCode').map(
    (t) => `${t.attributes.codeSystemName}:${t.attributes['csd-code']}`,
  );
const participants = (m: XmlNode) => childrenNamed(m, 'ActiveParticipant');
const withRole = (m: XmlNode, code: string) =>
  participants(m).filter((p) =>
    childrenNamed(p, 'RoleIDCode').some((r) => r.attributes['csd-code'] === code),
  );
const objects = (m: XmlNode, type: string, role: string, idType: string) =>
  childrenNamed(m, 'ParticipantObjectIdentification').filter(
    (o) =>
      o.attributes.ParticipantObjectTypeCode === type &&
      o.attributes.ParticipantObjectTypeCodeRole === role &&
      o.children[0]!.attributes['csd-code'] === idType,
  );
const action = (m: XmlNode) => m.children[0]!.attributes.EventActionCode;

/** PS3.15 A.5.3, per event: the participants and objects each message requires. */
function checkEvent(m: XmlNode, row: AuditRow): void {
  const studies = objects(m, '2', '3', '110180');
  const patients = objects(m, '1', '1', '2');
  const studyAndPatient = () => {
    if (row.studyInstanceUid) {
      expect(studies.map((s) => s.attributes.ParticipantObjectID)).toEqual([row.studyInstanceUid]);
    }
    if (row.patientId) {
      expect(patients.map((p) => p.attributes.ParticipantObjectID)).toEqual([row.patientId]);
    }
  };
  switch (eventId(m)) {
    case '110100': // Application Activity
      expect(action(m)).toBe('E');
      expect(typeCodes(m).some((t) => t === 'DCM:110120' || t === 'DCM:110121')).toBe(true);
      expect(withRole(m, '110150')).toHaveLength(1);
      break;
    case '110101': // Audit Log Used
      expect(action(m)).toBe('R');
      expect(objects(m, '2', '13', '12')).toHaveLength(1);
      expect(childrenNamed(objects(m, '2', '13', '12')[0]!, 'ParticipantObjectName')[0]!.text).toBe(
        'Security Audit Log',
      );
      break;
    case '110103': // DICOM Instances Accessed
      expect(['C', 'R', 'U', 'D']).toContain(action(m));
      expect(participants(m).some((p) => p.attributes.UserIsRequestor === 'true')).toBe(true);
      studyAndPatient();
      break;
    case '110104': // DICOM Instances Transferred
      expect(['C', 'R', 'U']).toContain(action(m));
      expect(withRole(m, '110153')).toHaveLength(1);
      expect(withRole(m, '110152')).toHaveLength(1);
      studyAndPatient();
      break;
    case '110105': // DICOM Study Deleted
      expect(action(m)).toBe('D');
      expect(participants(m).some((p) => p.attributes.UserIsRequestor === 'true')).toBe(true);
      studyAndPatient();
      break;
    case '110106': {
      // Export: the media is the destination, identified by its type.
      expect(action(m)).toBe('R');
      const media = withRole(m, '110154');
      expect(media).toHaveLength(1);
      expect(childrenNamed(media[0]!, 'MediaIdentifier')).toHaveLength(1);
      expect(withRole(m, '110153')).toHaveLength(1);
      studyAndPatient();
      break;
    }
    case '110107': {
      // Import: the media is the source, the archive the destination.
      expect(action(m)).toBe('C');
      const media = withRole(m, '110155');
      expect(media).toHaveLength(1);
      expect(childrenNamed(media[0]!, 'MediaIdentifier')).toHaveLength(1);
      expect(withRole(m, '110152')).toHaveLength(1);
      studyAndPatient();
      break;
    }
    case '110112': {
      // Query: the requester is the Source, the archive the Destination; one query object.
      expect(action(m)).toBe('E');
      expect(withRole(m, '110153')[0]!.attributes.UserIsRequestor).toBe('true');
      expect(withRole(m, '110152')[0]!.attributes.UserIsRequestor).toBe('false');
      const queries = childrenNamed(m, 'ParticipantObjectIdentification').filter(
        (o) => childrenNamed(o, 'ParticipantObjectQuery').length === 1,
      );
      expect(queries).toHaveLength(1);
      expect(queries[0]!.attributes.ParticipantObjectTypeCode).toBe('2');
      break;
    }
    case '110113': // Security Alert: the event type says which
      expect(action(m)).toBe('E');
      expect(typeCodes(m).some((t) => t.startsWith('DCM:'))).toBe(true);
      break;
    case '110114': {
      // User Authentication: Login or Logout; the user's network access point is mandatory.
      expect(typeCodes(m).some((t) => t === 'DCM:110122' || t === 'DCM:110123')).toBe(true);
      const user = participants(m).find((p) => p.attributes.UserID === row.actor)!;
      expect(user.attributes.NetworkAccessPointID).toBe(row.actorHost);
      expect(user.attributes.NetworkAccessPointTypeCode).toBe('2');
      break;
    }
    default:
      throw new Error(`unexpected event ${eventId(m)}`);
  }
}

describe('DICOM PS3.15 audit messages', () => {
  const rows = sampleRows();

  for (const [name, row] of Object.entries(rows)) {
    it(`${name} (${row.action}): the schema's structure and the event's required elements`, () => {
      const m = render(row);
      checkSchema(m);
      checkEvent(m, row);
      // The Strata action rides along as a private event type code.
      expect(typeCodes(m)).toContain(`99STRATA:${row.action}`);
      expect(m.children[0]!.attributes.EventDateTime).toBe(row.at);
    });
  }

  it('maps each kind of event to the DICOM event the standard gives for it', () => {
    const ids = Object.fromEntries(
      Object.entries(rows).map(([name, row]) => {
        const m = render(row);
        return [
          name,
          `${eventId(m)} ${action(m)} ${typeCodes(m)
            .filter((t) => t.startsWith('DCM'))
            .join(',')}`.trim(),
        ];
      }),
    );
    expect(ids).toEqual({
      'c-store': '110104 C',
      'c-store new version': '110104 U',
      'c-store refused': '110104 C',
      'stow-rs': '110104 C',
      'folder import': '110107 C',
      'dimse pull': '110104 C',
      'c-find': '110112 E',
      'qido-rs': '110112 E',
      'c-move': '110104 R',
      'c-get': '110104 R',
      'wado-rs': '110104 R',
      'wado-rs metadata': '110103 R',
      export: '110106 R',
      moved: '110103 U',
      recall: '110103 U',
      restore: '110103 R',
      expired: '110103 D',
      'expired by api': '110103 D',
      'delete refused': '110103 D',
      purged: '110105 D',
      'hold placed': '110103 U',
      'hold released': '110103 U',
      'fixity failed': '110103 R',
      repaired: '110103 U',
      'fixity checked': '110113 E DCM:110142',
      'association refused': '110113 E DCM:110126',
      'auth failed': '110114 E DCM:110122',
      'key added': '110113 E DCM:110135',
      'key retired': '110113 E DCM:110135',
      rewrapped: '110113 E DCM:110135',
      'policy changed': '110113 E DCM:110131',
      'schedule paused': '110113 E DCM:110131',
      'retention sweep': '110113 E DCM:110142',
      'commitment requested': '110104 R',
      'commitment reported': '110104 R',
      'audit queried': '110101 R',
      'application started': '110100 E DCM:110120',
    });
  });

  it('maps outcomes to EventOutcomeIndicator 0, 4 and 8, with the reason of a failure', () => {
    const ok = render(rows['c-store']!).children[0]!;
    const warn = render(rows['retention sweep']!).children[0]!;
    const failed = render(rows['c-store refused']!).children[0]!;
    expect(ok.attributes.EventOutcomeIndicator).toBe('0');
    expect(childrenNamed(ok, 'EventOutcomeDescription')).toHaveLength(0);
    expect(warn.attributes.EventOutcomeIndicator).toBe('4');
    expect(failed.attributes.EventOutcomeIndicator).toBe('8');
    expect(childrenNamed(failed, 'EventOutcomeDescription')[0]!.text).toBe('unsupported-sop-class');
  });

  it('C-MOVE: the archive is the Source, the move destination the Destination, the caller the requestor', () => {
    const m = render(rows['c-move']!);
    expect(withRole(m, '110153')[0]!.attributes).toMatchObject({
      UserID: 'STRATA',
      UserIsRequestor: 'false',
    });
    expect(withRole(m, '110152')[0]!.attributes).toMatchObject({
      UserID: 'WORKSTATION',
      UserIsRequestor: 'false',
    });
    const caller = participants(m).find((p) => p.attributes.UserID === 'VIEWER1')!;
    expect(caller.attributes).toMatchObject({
      UserIsRequestor: 'true',
      NetworkAccessPointID: '10.0.0.7',
      NetworkAccessPointTypeCode: '2',
    });
  });

  it('C-STORE: instance count and SOP Instance UID in the study description, life cycle 1', () => {
    const m = render(rows['c-store']!);
    const study = objects(m, '2', '3', '110180')[0]!;
    expect(study.attributes.ParticipantObjectDataLifeCycle).toBe('1');
    const sop = childrenNamed(
      childrenNamed(study, 'ParticipantObjectDescription')[0]!,
      'SOPClass',
    )[0]!;
    expect(sop.attributes.NumberOfInstances).toBe('1');
    expect(childrenNamed(sop, 'Instance')[0]!.attributes.UID).toBe('1.2.826.0.1.3680043.8.498.3');
    const detail = childrenNamed(study, 'ParticipantObjectDetail').find(
      (d) => d.attributes.type === 'StrataDetail',
    )!;
    expect(JSON.parse(Buffer.from(detail.attributes.value!, 'base64').toString())).toMatchObject({
      adapter: 'dimse-push',
      outcome: 'stored',
    });
  });

  it('C-FIND: the query object is the SOP Class, the query its level and key names (base64)', () => {
    const m = render(rows['c-find']!);
    const q = objects(m, '2', '3', '110181')[0]!;
    expect(q.attributes.ParticipantObjectID).toBe('1.2.840.10008.5.1.4.1.2.2.1');
    const query = JSON.parse(
      Buffer.from(childrenNamed(q, 'ParticipantObjectQuery')[0]!.text, 'base64').toString(),
    );
    expect(query).toMatchObject({ level: 'STUDY', keys: ['PatientName', 'StudyDate'] });
  });

  it('escapes markup and drops characters XML cannot carry', () => {
    const row = auditRow({
      action: 'auth.failed',
      actor: "x\"/><Evil a='1'>&amp;",
      actorHost: '192.0.2.1',
      outcome: 'failure',
      detail: { reason: 'line1\nline2\u0001 </EventOutcomeDescription> & \uD800 ]]>' },
    });
    const xml = renderDicomAuditMessage(row, SOURCE);
    expect(xml).not.toContain('\n');
    const m = parseXml(xml);
    expect(participants(m)[0]!.attributes.UserID).toBe("x\"/><Evil a='1'>&amp;");
    expect(childrenNamed(m.children[0]!, 'EventOutcomeDescription')[0]!.text).toBe(
      'line1\nline2\uFFFD </EventOutcomeDescription> & \uFFFD ]]>',
    );
  });

  it('renders the same row to the same bytes', () => {
    const row = rows['wado-rs']!;
    expect(renderDicomAuditMessage(row, SOURCE)).toBe(renderDicomAuditMessage({ ...row }, SOURCE));
  });

  it('an action nobody mapped yet still renders, by its family, and names itself', () => {
    const m = render(
      auditRow({ action: 'token.created', actor: 'admin', detail: { name: 'pacs-1' } }),
    );
    checkSchema(m);
    expect(eventId(m)).toBe('110113');
    expect(typeCodes(m)).toEqual(['DCM:110137', '99STRATA:token.created']);
    expect(objects(m, '2', '11', '11')[0]!.attributes.ParticipantObjectID).toBe('pacs-1');
    const odd = render(auditRow({ action: 'something.new' }));
    checkSchema(odd);
    expect(typeCodes(odd)).toContain('99STRATA:something.new');
  });
});
