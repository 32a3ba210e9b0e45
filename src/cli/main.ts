#!/usr/bin/env node
import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config/index.js';
import { openDatabase, SchemaTooNewError } from '../database/index.js';
import { AUDIT_USAGE, auditCommand } from './audit.command.js';
import { EXPORT_USAGE, exportCommand } from './export.command.js';
import { FSCK_USAGE, fsckCommand } from './fsck.command.js';
import { HOLD_USAGE, holdCommand } from './hold.command.js';
import { IMPORT_USAGE, importCommand } from './import.command.js';
import { KEYS_USAGE, keysCommand } from './keys.command.js';
import { POLICY_USAGE, policyCommand } from './policy.command.js';
import { PROFILE_USAGE, profileCommand } from './profile.command.js';
import { PULL_USAGE, pullCommand } from './pull.command.js';
import { SWEEP_USAGE, sweepCommand } from './sweep.command.js';
import { TIER_USAGE, tierCommand } from './tier-move.command.js';
import { TOKEN_USAGE, tokenCommand } from './token.command.js';

const USAGE = `usage: strata <command>

commands:
  migrate     apply pending database migrations (the server also does this at start)
  import      import DICOM files from a folder, zip file or DICOMDIR medium (strata import --help)
  tier move   move a study or series to another tier (strata tier move --help)
  fsck        check stored copies against their digests, repair bad ones (strata fsck --help)
  export      disaster-recovery export of a study as OpenPGP messages or DICOM files (--help)
  keys        the archive's OpenPGP keys: list, add-recipient, rotate, retire (strata keys --help)
  policy      lifecycle policies: validate, explain a study, simulate (strata policy --help)
  profile     vendor profiles: list, test what one would change in a file (strata profile --help)
  hold        legal holds: place, release, list (strata hold --help)
  audit       the audit trail: verify (also an exported bundle, offline), search, export, checkpoint
  pull        run a pull source now (dimse-pull, dicomweb-pull, orthanc-pull) from its checkpoint
  sweep       run a lifecycle sweep now: retention, tiering or purge (strata sweep --help)
  token       API tokens: create (with a role), list, revoke (strata token --help)
  help        show this help

The CLI reads the same environment and config file as the server (see README.md).`;

const quietLogger = {
  log: (m: string) => console.error(m),
  warn: (m: string) => console.error(`warning: ${m}`),
};

async function migrateCommand(): Promise<number> {
  const config = loadConfig();
  const db = await openDatabase(config, quietLogger);
  try {
    console.log(
      db.migrationsRun.length === 0
        ? 'the database schema is up to date'
        : `applied: ${db.migrationsRun.join(', ')}`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'migrate':
      return migrateCommand();
    case 'import':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(IMPORT_USAGE);
        return 0;
      }
      return importCommand(argv.slice(1), quietLogger);
    case 'tier':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(TIER_USAGE);
        return 0;
      }
      return tierCommand(argv.slice(1), quietLogger);
    case 'fsck':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(FSCK_USAGE);
        return 0;
      }
      return fsckCommand(argv.slice(1), quietLogger);
    case 'export':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(EXPORT_USAGE);
        return 0;
      }
      return exportCommand(argv.slice(1), quietLogger);
    case 'keys':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(KEYS_USAGE);
        return 0;
      }
      return keysCommand(argv.slice(1), quietLogger);
    case 'policy':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(POLICY_USAGE);
        return 0;
      }
      return policyCommand(argv.slice(1), quietLogger);
    case 'profile':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(PROFILE_USAGE);
        return 0;
      }
      return profileCommand(argv.slice(1), quietLogger);
    case 'hold':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(HOLD_USAGE);
        return 0;
      }
      return holdCommand(argv.slice(1), quietLogger);
    case 'audit':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(AUDIT_USAGE);
        return 0;
      }
      return auditCommand(argv.slice(1), quietLogger);
    case 'pull':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(PULL_USAGE);
        return 0;
      }
      return pullCommand(argv.slice(1), quietLogger);
    case 'sweep':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(SWEEP_USAGE);
        return 0;
      }
      return sweepCommand(argv.slice(1), quietLogger);
    case 'token':
      if (argv.includes('--help') || argv.includes('-h')) {
        console.log(TOKEN_USAGE);
        return 0;
      }
      return tokenCommand(argv.slice(1), quietLogger);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`strata: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError)
      console.error(`strata: configuration error: ${error.message}`);
    else if (error instanceof SchemaTooNewError) console.error(`strata: ${error.message}`);
    else console.error(`strata: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
