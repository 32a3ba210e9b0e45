import { type INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { ConfigError, type StrataConfig } from './config/index.js';
import { openDatabase, type OpenedDatabase } from './database/index.js';
import { DimsePushService, ProfileError, VendorProfiles } from './ingestion/index.js';
import { requestLogging, StrataLogger } from './logging/index.js';

export interface RunningStrata {
  app: INestApplication;
  httpUrl: string;
  httpPort: number;
  dicomPort: number;
  /** The DICOM TLS port (dicom.tls); null when not configured. */
  dicomTlsPort: number | null;
  database: OpenedDatabase;
  close(): Promise<void>;
}

/**
 * Opens the database (embedded or DATABASE_URL, migrated), then starts the HTTP and DICOM
 * listeners. Shared by `npm start` and the end-to-end tests, so the tests run the real thing.
 */
export async function startStrata(config: StrataConfig): Promise<RunningStrata> {
  // Structured logs (STRATA_LOG_FORMAT, STRATA_LOG_LEVEL) for every `new Logger()` in the process.
  const strataLogger = new StrataLogger({ level: config.logLevel, format: config.logFormat });
  Logger.overrideLogger(strataLogger);
  const logger = new Logger('Strata');
  checkVendorProfiles(config);
  const database = await openDatabase(config, logger);
  if (database.migrationsRun.length > 0) {
    logger.log(`applied migrations: ${database.migrationsRun.join(', ')}`);
  }
  let app: INestApplication | undefined;
  try {
    app = await NestFactory.create(AppModule.forRoot(config, database.database), {
      logger: strataLogger,
      // STOW-RS streams its own bodies; no route takes JSON bodies yet (a global JSON parser would
      // answer a STOW sent as application/json with 400 instead of 415).
      bodyParser: false,
    });
    const express = app.getHttpAdapter().getInstance();
    express.disable('x-powered-by');
    // Behind a reverse proxy, req.ip (what the audit trail records as the caller's host) is the
    // client's address from X-Forwarded-For, but only when the proxy is one the operator trusts.
    if (config.http.trustProxy.length > 0) express.set('trust proxy', config.http.trustProxy);
    // First in the chain: a request id and one access line per request (no query strings).
    app.use(requestLogging(strataLogger));
    const openapi = new DocumentBuilder()
      .setTitle('Strata VNA')
      .setDescription('Admin API and DICOMweb (QIDO-RS, WADO-RS, STOW-RS) of the Strata archive')
      .addBearerAuth()
      .build();
    SwaggerModule.setup('api/docs', app, () => SwaggerModule.createDocument(app!, openapi), {
      jsonDocumentUrl: 'api/docs/openapi.json',
    });
    await app.listen(config.http.port, config.http.host);
    // Outlive clients' idle keep-alive timers (undici: 4 s, load balancers: 60 s), so a client never
    // sends a request on a connection the server is closing at that moment (ECONNRESET).
    const server = app.getHttpServer() as import('node:http').Server;
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    const address = app.getHttpServer().address();
    const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
    const dicomPort = app.get(DimsePushService).port;
    const dicomTlsPort = app.get(DimsePushService).tlsPort;
    const dicomTls =
      dicomTlsPort === null ? '' : ` and TLS ${config.dicom.tls!.host}:${dicomTlsPort}`;
    const shownHost = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
    logger.log(
      `listening: HTTP http://${config.http.host}:${httpPort} (DICOMweb /dicomweb, API /api, docs /api/docs), ` +
        `DICOM ${config.dicom.aeTitle}@${config.dicom.host}:${dicomPort}${dicomTls}; data dir ${config.dataDir}; database: ${database.where}`,
    );
    const running: RunningStrata = {
      app,
      httpUrl: `http://${shownHost}:${httpPort}`,
      httpPort,
      dicomPort,
      dicomTlsPort,
      database,
      close: async () => {
        await app!.close();
        await database.close();
      },
    };
    return running;
  } catch (error) {
    await app?.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Vendor profiles are checked before anything opens: an invalid profile file, or a source naming
 * a profile that does not exist, is a configuration error with every problem listed (a provider
 * constructor's error would make Nest abort the process instead).
 */
function checkVendorProfiles(config: StrataConfig): void {
  try {
    VendorProfiles.load(config.policiesDir, config.sources);
  } catch (error) {
    if (error instanceof ProfileError) {
      throw new ConfigError(`vendor profiles:\n  ${error.problems.join('\n  ')}`);
    }
    throw error;
  }
}
