import { type AuditRow } from '../../audit-event.js';

const STUDY = '1.2.826.0.1.3680043.8.498.1';
const SERIES = '1.2.826.0.1.3680043.8.498.2';
const SOP = '1.2.826.0.1.3680043.8.498.3';

let seq = 0;

/** Tests only: an audit row as the archive writes it, with defaults for what a test leaves out. */
export function auditRow(r: Partial<AuditRow> & Pick<AuditRow, 'action'>): AuditRow {
  seq++;
  return {
    seq,
    at: '2026-03-04T05:06:07.089Z',
    actor: 'MODALITY1',
    actorHost: '10.0.0.7',
    role: null,
    outcome: 'success',
    patientId: null,
    studyInstanceUid: null,
    instances: null,
    detail: null,
    prevHash: '00'.repeat(32),
    hash: 'ab'.repeat(32),
    ...r,
  };
}

/**
 * Tests only: one row per kind of event the archive records today, shaped as its call site
 * writes it (the same actors, identifiers and detail keys).
 */
export function sampleRows(): Record<string, AuditRow> {
  const patient = { patientId: 'PID-42', studyInstanceUid: STUDY };
  return {
    'c-store': auditRow({
      action: 'instance.stored',
      ...patient,
      instances: 1,
      detail: {
        adapter: 'dimse-push',
        source: 'MODALITY1',
        sopInstanceUid: SOP,
        outcome: 'stored',
        version: 1,
      },
    }),
    'c-store new version': auditRow({
      action: 'instance.stored',
      ...patient,
      instances: 1,
      detail: {
        adapter: 'dimse-push',
        source: 'MODALITY1',
        sopInstanceUid: SOP,
        outcome: 'new-version',
        version: 2,
      },
    }),
    'c-store refused': auditRow({
      action: 'instance.stored',
      outcome: 'failure',
      ...patient,
      instances: 0,
      detail: {
        adapter: 'dimse-push',
        source: 'MODALITY1',
        reason: 'unsupported-sop-class',
        sopInstanceUid: SOP,
      },
    }),
    'stow-rs': auditRow({
      action: 'instance.stored',
      actor: 'pacs-token',
      role: 'pacs',
      ...patient,
      instances: 1,
      detail: {
        adapter: 'stow-push',
        source: 'stow:pacs-token',
        sopInstanceUid: SOP,
        outcome: 'stored',
        version: 1,
      },
    }),
    'folder import': auditRow({
      action: 'instance.stored',
      actor: 'folder-import:old-pacs',
      actorHost: null,
      ...patient,
      instances: 1,
      detail: {
        adapter: 'folder-import',
        source: 'old-pacs',
        sopInstanceUid: SOP,
        outcome: 'stored',
        version: 1,
      },
    }),
    'dimse pull': auditRow({
      action: 'instance.stored',
      actor: 'OLDPACS',
      ...patient,
      instances: 1,
      detail: {
        adapter: 'dimse-pull',
        source: 'old',
        sopInstanceUid: SOP,
        outcome: 'stored',
        version: 1,
      },
    }),
    'c-find': auditRow({
      action: 'study.queried',
      studyInstanceUid: null,
      detail: {
        protocol: 'DIMSE C-FIND',
        model: 'study-root',
        level: 'STUDY',
        keys: ['PatientName', 'StudyDate'],
        results: 3,
        calledAet: 'STRATA',
        association: 'a1',
      },
    }),
    'qido-rs': auditRow({
      action: 'study.queried',
      actor: 'viewer',
      role: 'auditor',
      studyInstanceUid: STUDY,
      detail: {
        protocol: 'QIDO-RS',
        level: 'series',
        keys: ['Modality'],
        limit: 100,
        offset: 0,
        results: 2,
      },
    }),
    'c-move': auditRow({
      action: 'study.retrieved',
      actor: 'VIEWER1',
      ...patient,
      instances: 12,
      detail: {
        protocol: 'DIMSE C-MOVE',
        kind: 'instances',
        level: 'study',
        destination: 'WORKSTATION',
        completed: 12,
        failed: 0,
      },
    }),
    'c-get': auditRow({
      action: 'study.retrieved',
      actor: 'VIEWER1',
      ...patient,
      instances: 12,
      detail: {
        protocol: 'DIMSE C-GET',
        kind: 'instances',
        level: 'study',
        completed: 12,
        failed: 0,
      },
    }),
    'wado-rs': auditRow({
      action: 'study.retrieved',
      actor: 'viewer',
      role: 'pacs',
      ...patient,
      instances: 3,
      detail: {
        protocol: 'WADO-RS',
        kind: 'instances',
        level: 'series',
        seriesInstanceUid: SERIES,
      },
    }),
    'wado-rs metadata': auditRow({
      action: 'study.retrieved',
      actor: 'viewer',
      ...patient,
      instances: 3,
      detail: { protocol: 'WADO-RS', kind: 'metadata', level: 'study' },
    }),
    export: auditRow({
      action: 'study.exported',
      actor: 'cli:alice',
      actorHost: 'workstation.example.org',
      ...patient,
      instances: 4,
      detail: { format: 'dcm', out: '/tmp/export/study-1', failed: 0 },
    }),
    moved: auditRow({
      action: 'study.moved',
      actor: 'lifecycle',
      actorHost: null,
      ...patient,
      detail: { job: 7, tier: 'cold', series: null, policy: 'tiering.yaml#old' },
    }),
    recall: auditRow({
      action: 'study.recall-requested',
      actor: 'archivist-token',
      ...patient,
      detail: { job: 8, from: ['cold'], reason: 'clinic' },
    }),
    restore: auditRow({
      action: 'study.restore-requested',
      actor: 'VIEWER1',
      studyInstanceUid: STUDY,
      instances: 5,
      detail: { expectedAt: '2026-03-04T09:00:00.000Z' },
    }),
    expired: auditRow({
      action: 'study.expired',
      actor: 'lifecycle',
      actorHost: null,
      ...patient,
      detail: { by: 'retention', rule: 'ten-years', policyVersion: 'abc', holdsChecked: [] },
    }),
    'expired by api': auditRow({
      action: 'study.expired',
      actor: 'archivist-token',
      role: 'archivist',
      ...patient,
      detail: {
        by: 'manual',
        reason: 'duplicate study',
        method: 'DELETE',
        path: `/api/studies/${STUDY}`,
      },
    }),
    'delete refused': auditRow({
      action: 'study.delete-requested',
      actor: 'archivist-token',
      outcome: 'failure',
      ...patient,
      detail: { reason: 'duplicate study', blockedBy: ['H1'] },
    }),
    purged: auditRow({
      action: 'study.purged',
      actor: 'lifecycle',
      actorHost: null,
      ...patient,
      instances: 12,
      detail: {
        certificate: 'C1',
        rule: 'ten-years',
        objects: 12,
        bytes: 1000,
        pkeskRowsDestroyed: 2,
      },
    }),
    'hold placed': auditRow({
      action: 'hold.placed',
      actor: 'archivist-token',
      ...patient,
      detail: {
        hold: 'H1',
        reason: 'litigation',
        caseReference: 'Case 12 (Smith v. Jones)',
        custodian: 'legal',
      },
    }),
    'hold released': auditRow({
      action: 'hold.released',
      actor: 'archivist-token',
      ...patient,
      detail: { hold: 'H1', reason: 'settled', placedBy: 'archivist-token' },
    }),
    'fixity failed': auditRow({
      action: 'location.fixity-failed',
      actor: 'system',
      actorHost: null,
      outcome: 'failure',
      studyInstanceUid: STUDY,
      detail: { job: 3, backend: 'local', key: 'k', tier: 'hot', problem: 'corrupt' },
    }),
    repaired: auditRow({
      action: 'location.repaired',
      actor: 'system',
      actorHost: null,
      studyInstanceUid: STUDY,
      detail: {
        job: 3,
        from: { backend: 'local-warm', tier: 'warm' },
        to: { backend: 'local', key: 'k2', tier: 'hot' },
      },
    }),
    'fixity checked': auditRow({
      action: 'fixity.checked',
      actor: 'scheduler',
      actorHost: null,
      detail: { job: 3, tiers: ['hot'], samplePercent: 100, checked: 10, missing: 0, corrupt: 0 },
    }),
    'association refused': auditRow({
      action: 'association.refused',
      actor: 'INTRUDER',
      actorHost: '192.0.2.9',
      outcome: 'failure',
      detail: { calledAet: 'STRATA', reason: 'calling AE not allowed' },
    }),
    'auth failed': auditRow({
      action: 'auth.failed',
      actor: 'anonymous',
      actorHost: '192.0.2.10',
      outcome: 'failure',
      detail: { path: '/api/audit', method: 'GET', reason: 'unknown token' },
    }),
    'key added': auditRow({
      action: 'key.recipient-added',
      actor: 'admin',
      detail: {
        fingerprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
        role: 'escrow',
        label: 'escrow',
      },
    }),
    'key retired': auditRow({
      action: 'key.retired',
      actor: 'admin',
      detail: {
        fingerprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
        role: 'archive',
        studyKeysRemoved: 3,
      },
    }),
    rewrapped: auditRow({
      action: 'key.rewrapped',
      actor: 'admin',
      detail: {
        job: 5,
        reason: 'rotation',
        fingerprint: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
      },
    }),
    'policy changed': auditRow({
      action: 'policy.changed',
      actor: 'system',
      actorHost: null,
      detail: { policyVersion: 'abc123', dir: '/etc/strata/policies', files: ['a.yaml'] },
    }),
    'schedule paused': auditRow({
      action: 'schedule.paused',
      actor: 'admin',
      detail: { sweep: 'purge', job: null },
    }),
    'retention sweep': auditRow({
      action: 'lifecycle.retention-sweep',
      actor: 'scheduler',
      actorHost: null,
      outcome: 'warning',
      detail: { job: 9, policyVersion: 'abc', expired: 2, failed: 1 },
    }),
    'commitment requested': auditRow({
      action: 'storage.commitment-requested',
      actor: 'MODALITY1',
      instances: 3,
      detail: {
        commitment: 'c1',
        transactionUid: '1.2.3',
        source: 'MODALITY1',
        committed: 3,
        failed: 0,
      },
    }),
    'commitment reported': auditRow({
      action: 'storage.commitment-reported',
      actor: 'STRATA',
      actorHost: null,
      instances: 3,
      detail: {
        commitment: 'c1',
        transactionUid: '1.2.3',
        to: 'MODALITY1',
        via: 'same association',
      },
    }),
    'audit queried': auditRow({
      action: 'audit.queried',
      actor: 'auditor-token',
      role: 'auditor',
      detail: { path: '/api/audit', method: 'GET', filter: { patientId: 'PID-42' } },
    }),
    'application started': auditRow({
      action: 'application.started',
      actor: 'STRATA',
      actorHost: null,
    }),
  };
}
