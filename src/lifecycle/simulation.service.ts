import { Injectable } from '@nestjs/common';
import { Database } from '../database/index.js';
import { Clock } from './clock.js';
import { FactsRepository } from './facts.repository.js';
import { type HoldFact, type StudyFacts, type StudyState } from './facts.js';
import { HoldRepository } from './hold.repository.js';
import { loadPolicies } from './policy-loader.js';
import { type PolicySet } from './policy-model.js';
import { PolicyStore } from './policy-store.service.js';
import { simulate, type SimulationMonth } from './simulator.js';

export interface SimulationReport {
  start: string;
  months: number;
  studies: number;
  bytes: number;
  current: { policyVersion: string; dir: string; months: SimulationMonth[] };
  proposed: { policyVersion: string; dir: string; months: SimulationMonth[] } | null;
}

/** Patients read per statement while the catalog is loaded for a simulation. */
const LOAD_BATCH = 5000;

/**
 * What the policies would do over the coming months, for the current set and optionally a
 * proposed directory, side by side. Reads the catalog once; changes nothing.
 */
@Injectable()
export class SimulationService {
  private readonly facts = new FactsRepository();
  private readonly holds = new HoldRepository();

  constructor(
    private readonly db: Database,
    private readonly policies: PolicyStore,
    private readonly clock: Clock,
  ) {}

  async run(
    months: number,
    proposedDir: string | null,
    onProgress?: (patients: number) => void,
  ): Promise<SimulationReport> {
    // Validated before the catalog is read: a bad proposal fails fast with its errors.
    const proposed: PolicySet | null = proposedDir ? loadPolicies(proposedDir) : null;
    const studies: StudyFacts[] = [];
    const states = new Map<string, StudyState>();
    let after = '0';
    let patients = 0;
    for (;;) {
      const batch = await this.facts.patientsAfter(this.db, after, LOAD_BATCH);
      if (batch.lastPatient === null) break;
      for (const s of batch.studies) {
        studies.push(s.facts);
        states.set(s.facts.studyInstanceUid, s.state);
      }
      patients += new Set(batch.studies.map((s) => s.facts.patientKey)).size;
      onProgress?.(patients);
      after = batch.lastPatient;
    }
    const holds: HoldFact[] = await this.holds.list(this.db, { active: true });
    const start = this.clock.now();
    const run = (policies: PolicySet) =>
      simulate({ studies, holds, states, policies, start, months });
    const current = this.policies.current;
    return {
      start: start.toISOString(),
      months,
      studies: studies.length,
      bytes: studies.reduce((sum, s) => sum + s.sizeBytes, 0),
      current: { policyVersion: current.version, dir: current.dir, months: run(current) },
      proposed: proposed
        ? { policyVersion: proposed.version, dir: proposed.dir, months: run(proposed) }
        : null,
    };
  }
}
