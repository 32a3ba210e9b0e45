import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDataSet } from '../../src/dicom/index.js';
import { makeInstance, newUid } from '../../src/dicom/testing/index.js';
import { AssociationRejectedError, CommandField, DimseClient } from '../../src/dimse/index.js';
import { datasetOf } from '../support/multipart.js';
import { stow } from '../support/stow-client.js';
import { removeDataDir, startTestStrata, type TestStrata } from '../support/strata-harness.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';

/** A patient's name, ID and birth date that must never show where the issue says. */
const NAME = 'Zyxwvut^Privacyperson';
const PATIENT_ID = 'PHI-ID-8675309';
const BIRTH = '19230405';
const PHI = [/Zyxwvut/i, /Privacyperson/i, /8675309/, /19230405/];

/**
 * Privacy (issue 6, item 8): patient names, IDs and birth dates appear neither in the application's
 * log at info level (and above) nor in error answers to callers without a role for them: 401 and
 * 403 bodies, DICOMweb errors, DIMSE error comments to peers. The log is captured from the
 * process's own stdout and stderr while error paths are driven with a patient whose name, ID and
 * birth date are easy to find.
 */
describe('no patient data in logs and error answers', () => {
  let s: TestStrata;
  let pacs: string;
  let auditor: string;
  const log: string[] = [];
  const answers: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const phi = (opts: Parameters<typeof makeInstance>[0] = {}) =>
    makeInstance({
      sopClassUid: CT,
      patientName: NAME,
      patientId: PATIENT_ID,
      birthDate: BIRTH,
      ...opts,
    });
  const stored = phi();

  /** Takes what the process writes (Nest's logger writes to stdout and stderr) into `log`. */
  function capture(chunk: unknown, ...rest: unknown[]): boolean {
    log.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
    (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
    return true;
  }

  const http = async (path: string, auth?: string, init: RequestInit = {}) => {
    const res = await fetch(`${s.httpUrl}${path}`, {
      ...init,
      headers: { ...(auth ? { authorization: auth } : {}), ...(init.headers ?? {}) },
    });
    const text = await res.text();
    answers.push(`${res.status}: ${text}`);
    return { status: res.status, text };
  };
  const token = async (role: string, name: string, source?: string) => {
    const r = await http('/api/tokens', s.auth, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role, name, ...(source ? { source } : {}) }),
    });
    expect(r.status).toBe(201);
    return `Bearer ${(JSON.parse(r.text) as { token: string }).token}`;
  };
  const associate = (callingAet: string, abstractSyntax: string) =>
    DimseClient.connect({
      host: '127.0.0.1',
      port: s.dicomPort,
      callingAet,
      calledAet: 'STRATA',
      contexts: [{ abstractSyntax, transferSyntaxes: [EXPLICIT_LE] }],
    });
  const cStore = async (callingAet: string, dataset: Buffer, sopInstanceUid: string) => {
    const client = await associate(callingAet, CT);
    try {
      const r = await client.store({
        sopClassUid: CT,
        sopInstanceUid,
        transferSyntaxUid: EXPLICIT_LE,
        data: Readable.from([dataset]),
      });
      answers.push(`C-STORE ${callingAet}: ${r.status.toString(16)} ${r.errorComment ?? ''}`);
      return r;
    } finally {
      await client.release();
    }
  };
  const cFind = async (callingAet: string) => {
    const client = await associate(callingAet, STUDY_ROOT_FIND);
    try {
      const r = await client.query({
        commandField: CommandField.CFindRq,
        sopClassUid: STUDY_ROOT_FIND,
        transferSyntaxUid: EXPLICIT_LE,
        identifier: encodeDataSet(
          {
            '00080052': { vr: 'CS', Value: ['STUDY'] },
            '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Zyxwvut*' }] },
            '00100020': { vr: 'LO', Value: [PATIENT_ID] },
            '0020000D': { vr: 'UI' },
          },
          EXPLICIT_LE,
        ),
      });
      answers.push(`C-FIND ${callingAet}: ${r.status.toString(16)} ${r.errorComment ?? ''}`);
      return r;
    } finally {
      await client.release();
    }
  };

  beforeAll(async () => {
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    s = await startTestStrata({
      env: { STRATA_LOG_LEVEL: 'info' },
      configYaml: `
dicom:
  unknownPeers: { allow: [] }
  peers:
    MODALITY: { host: 127.0.0.1, port: 1, allow: [store] }
    VIEWER: { host: 127.0.0.1, port: 1, allow: [query] }
fixity:
  schedule: 'off'
`,
    });
    pacs = await token('pacs', 'privacy-pacs', 'PRIVACY');
    auditor = await token('auditor', 'privacy-auditor');
    expect((await stow(s.httpUrl, pacs, [stored.part10])).status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    await s?.stop();
    if (s) removeDataDir(s.dataDir);
  });

  it('DICOMweb: refused, malformed and unknown requests answer without patient data', async () => {
    const q = `PatientName=Zyxwvut*&PatientID=${PATIENT_ID}&PatientBirthDate=${BIRTH}`;
    expect((await http(`/dicomweb/studies?${q}`)).status).toBe(401);
    expect((await http(`/dicomweb/studies?${q}`, 'Bearer strata_unknown')).status).toBe(401);
    expect((await http(`/dicomweb/studies/${stored.studyInstanceUid}?${q}`, auditor)).status).toBe(
      403,
    );
    expect((await http(`/api/keys?${q}`, pacs)).status).toBe(403);
    // A malformed birth date in a query: 400 naming the key, not the value.
    expect((await http(`/dicomweb/studies?PatientBirthDate=1923040X`, pacs)).status).toBe(400);
    expect((await http(`/dicomweb/studies/${newUid()}/metadata?${q}`, pacs)).status).toBe(404);

    const truncated = phi().part10;
    const bad = await stow(s.httpUrl, pacs, [truncated.subarray(0, truncated.length - 700)]);
    answers.push(bad.text);
    expect(bad.status).toBeGreaterThanOrEqual(400);
    const elsewhere = await stow(s.httpUrl, pacs, [phi().part10], newUid());
    answers.push(elsewhere.text);
    expect(elsewhere.status).toBe(409);
  });

  it('DIMSE: refused and failed operations answer without patient data', async () => {
    const ok = phi();
    expect((await cStore('MODALITY', datasetOf(ok.part10), ok.sopInstanceUid)).status).toBe(0);
    const cut = phi();
    const broken = datasetOf(cut.part10);
    const failed = await cStore(
      'MODALITY',
      broken.subarray(0, broken.length - 700),
      cut.sopInstanceUid,
    );
    expect(failed.status).not.toBe(0);
    const refused = phi();
    const denied = await cStore('VIEWER', datasetOf(refused.part10), refused.sopInstanceUid);
    expect(denied.status).toBe(0x0124);
    expect(denied.errorComment).toBe('C-STORE not authorized for this AE title');
    expect((await cFind('MODALITY')).status).toBe(0x0124);
    expect((await cFind('VIEWER')).status).toBe(0);
    await expect(associate('STRANGER', CT)).rejects.toBeInstanceOf(AssociationRejectedError);
  });

  it('none of it put the patient’s name, ID or birth date in the log or an error answer', () => {
    const text = log.join('');
    // The capture works: the refusals were logged.
    expect(text).toContain('refused C-STORE from VIEWER@127.0.0.1');
    expect(text).toContain('refused association from STRANGER@127.0.0.1');
    for (const pattern of PHI) {
      expect(text, `log: ${pattern}`).not.toMatch(pattern);
      for (const a of answers.filter((x) => !x.startsWith('C-FIND VIEWER: 0 '))) {
        expect(a, `answer: ${pattern}`).not.toMatch(pattern);
      }
    }
  });
});
