/** The typed, validated configuration every context reads. Built once, by loadConfig(). */
export interface StrataConfig {
  dataDir: string;
  configFile: string | null;
  policiesDir: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  http: { host: string; port: number; maxStowBytes: number };
  dicom: {
    host: string;
    port: number;
    aeTitle: string;
    allowedCallingAets: string[];
    extraStorageSopClasses: string[];
    checkCalledAet: boolean;
    maxPduLength: number;
    idleTimeoutMs: number;
  };
  database: { url: string | null; embeddedDir: string };
  ingest: {
    maxHeaderBytes: number;
    parseTimeoutMs: number;
    parserWorkers: number;
    /** Headers up to this size parse on the main thread; larger ones in a worker. */
    inlineParseMaxBytes: number;
    tempDir: string;
  };
  keys: {
    dir: string;
    privateKeyFile: string | null;
    extraRecipientFiles: string[];
    passphrase: string | null;
  };
  auth: { adminToken: string | null };
  storage: { hotDir: string; orphanGraceMs: number };
}
