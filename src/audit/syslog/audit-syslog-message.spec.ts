import { describe, expect, it } from 'vitest';
import { childrenNamed, parseXml } from '../formats/testing/parse-xml.js';
import { auditRow, sampleRows } from '../formats/testing/sample-rows.js';
import { auditSyslogFrame, STRATA_SD_ID } from './audit-syslog-message.js';
import { octetCounted, syslogMessage } from './syslog-message.js';
import { parseSyslog, splitOctetCounted } from './testing/parse-syslog.js';

const source = { aeTitle: 'STRATA', host: 'archive.example.org', siteId: null };
const pseudonym = (id: string) => `PSEUDO-${id.length}`;

describe('syslog framing (RFC 5424, RFC 6587 octet counting)', () => {
  it('frames a message with its length in octets, and the parts parse back', () => {
    const msg = syslogMessage(
      {
        facility: 10,
        severity: 5,
        timestamp: '2026-03-04T05:06:07.089Z',
        hostname: 'archive node 1',
        appName: 'strata',
        procId: null,
        msgId: '110104',
      },
      [
        {
          id: 'x@32473',
          params: [
            ['v', 'a"b\\c]d'],
            ['n', 'ü'],
          ],
        },
      ],
      '<a>é</a>',
    );
    const framed = octetCounted(msg);
    expect(framed.toString('latin1').startsWith(`${msg.length} <85>1 `)).toBe(true);
    const [only] = splitOctetCounted(Buffer.concat([framed]));
    const p = parseSyslog(only!);
    expect(p).toMatchObject({
      pri: 85,
      timestamp: '2026-03-04T05:06:07.089Z',
      hostname: 'archive_node_1',
      appName: 'strata',
      procId: '-',
      msgId: '110104',
      bom: true,
      msg: '<a>é</a>',
    });
    expect(p.sd['x@32473']).toEqual({ v: 'a"b\\c]d', n: 'ü' });
  });
});

describe('an audit row as a syslog message', () => {
  const rows = sampleRows();

  it('APP-NAME strata, MSGID the DICOM event ID, seq and hash in structured data, the XML as MSG', () => {
    const row = rows['c-store']!;
    const frames = splitOctetCounted(
      auditSyslogFrame(row, { source, hostname: 'node1', pseudonymize: null }),
    );
    expect(frames).toHaveLength(1);
    const p = parseSyslog(frames[0]!);
    expect(p).toMatchObject({ pri: 85, appName: 'strata', msgId: '110104', hostname: 'node1' });
    expect(p.timestamp).toBe(row.at);
    expect(p.sd[STRATA_SD_ID]).toEqual({ seq: String(row.seq), hash: row.hash });
    const xml = parseXml(p.msg);
    expect(xml.name).toBe('AuditMessage');
  });

  it('a failure is a warning (severity 4)', () => {
    const p = parseSyslog(
      splitOctetCounted(
        auditSyslogFrame(rows['c-store refused']!, { source, hostname: 'n', pseudonymize: null }),
      )[0]!,
    );
    expect(p.pri).toBe(84);
  });

  it('the same row gives the same bytes (a message sent twice is recognisably one)', () => {
    const row = rows['wado-rs']!;
    const o = { source, hostname: 'n', pseudonymize: null };
    expect(auditSyslogFrame(row, o).equals(auditSyslogFrame({ ...row }, o))).toBe(true);
  });

  it('pseudonymised: the patient ID replaced, free text and the chain hash left out', () => {
    const row = auditRow({
      action: 'hold.placed',
      actor: 'archivist-token',
      patientId: 'PID-42',
      studyInstanceUid: '1.2.3',
      detail: { hold: 'H1', reason: 'Smith v. Jones', caseReference: 'SMITH^JOHN' },
    });
    const bytes = auditSyslogFrame(row, { source, hostname: 'n', pseudonymize: pseudonym });
    const text = bytes.toString('utf8');
    expect(text).not.toContain('PID-42');
    expect(text).not.toContain('Smith');
    const p = parseSyslog(splitOctetCounted(bytes)[0]!);
    expect(p.sd[STRATA_SD_ID]).toEqual({ seq: String(row.seq) });
    const patients = childrenNamed(parseXml(p.msg), 'ParticipantObjectIdentification').filter(
      (o) => o.attributes.ParticipantObjectTypeCodeRole === '1',
    );
    expect(patients.map((o) => o.attributes.ParticipantObjectID)).toEqual(['PSEUDO-6']);
    const detail = childrenNamed(parseXml(p.msg), 'ParticipantObjectIdentification')
      .flatMap((o) => childrenNamed(o, 'ParticipantObjectDetail'))
      .map((d) => JSON.parse(Buffer.from(d.attributes.value!, 'base64').toString()));
    expect(detail).toEqual([{ hold: 'H1' }]);
  });
});
