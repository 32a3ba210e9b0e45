export const TIERING_OPTIONS = Symbol('TIERING_OPTIONS');

export interface TieringOptions {
  /**
   * The server: resume interrupted jobs at start and take over those of nodes that died (job
   * leases). A CLI command does neither: it runs only the job it was asked.
   */
  resumeJobs: boolean;
  /** Serve the tiering HTTP API. */
  http: boolean;
}
