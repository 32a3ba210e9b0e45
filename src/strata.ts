import { type INestApplication, Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { ConfigError, type StrataConfig } from './config/index.js';
import { openDatabase, type OpenedDatabase } from './database/index.js';
import { DimsePushService, ProfileError, VendorProfiles } from './ingestion/index.js';

const LEVELS: Record<StrataConfig['logLevel'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

export interface RunningStrata {
  app: INestApplication;
  httpUrl: string;
  httpPort: number;
  dicomPort: number;
  database: OpenedDatabase;
  close(): Promise<void>;
}

/**
 * Opens the database (embedded or DATABASE_URL, migrated), then starts the HTTP and DICOM
 * listeners. Shared by `npm start` and the end-to-end tests, so the tests run the real thing.
 */
export async function startStrata(config: StrataConfig): Promise<RunningStrata> {
  const logger = new Logger('Strata');
  Logger.overrideLogger(LEVELS[config.logLevel]);
  checkVendorProfiles(config);
  const database = await openDatabase(config, logger);
  if (database.migrationsRun.length > 0) {
    logger.log(`applied migrations: ${database.migrationsRun.join(', ')}`);
  }
  let app: INestApplication | undefined;
  try {
    app = await NestFactory.create(AppModule.forRoot(config, database.database), {
      logger: LEVELS[config.logLevel],
      // STOW-RS streams its own bodies; no route takes JSON bodies yet (a global JSON parser would
      // answer a STOW sent as application/json with 400 instead of 415).
      bodyParser: false,
    });
    app.getHttpAdapter().getInstance().disable('x-powered-by');
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
    const shownHost = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
    logger.log(
      `listening: HTTP http://${config.http.host}:${httpPort} (DICOMweb /dicomweb, API /api, docs /api/docs), ` +
        `DICOM ${config.dicom.aeTitle}@${config.dicom.host}:${dicomPort}; data dir ${config.dataDir}; database: ${database.where}`,
    );
    const running: RunningStrata = {
      app,
      httpUrl: `http://${shownHost}:${httpPort}`,
      httpPort,
      dicomPort,
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
