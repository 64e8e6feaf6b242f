// Builds the plain-HTTP local admin application for 127.0.0.1: health and what the running service has applied.

import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { PATHS, type LocalStatus } from '../api/contract.js';
import { clientErrors, frameworkErrors, installErrorHandler } from './error-status.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerBootMediaRoutes } from './routes/boot-media.js';

/** Builds the local app; `status` is read on every request. */
export function buildLocalApp(deps: { version: string; logger: FastifyBaseLogger; status: () => Promise<LocalStatus> }): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger, bodyLimit: 16 * 1024, onProtoPoisoning: 'error', onConstructorPoisoning: 'error', frameworkErrors, clientErrorHandler: clientErrors }) as unknown as FastifyInstance;
  installErrorHandler(app);
  registerHealthRoutes(app, deps.version);
  app.get(PATHS.localStatus, async (): Promise<LocalStatus> => deps.status());
  return app;
}

/**
 * The plain-HTTP boot listener (`serve --boot-http-port`): only /Content/Boot/*, for stock iPXE,
 * which cannot check the service's certificate. The boot environment then checks the server by
 * its fingerprint before anything is typed; see docs/boot-media.md for what this does not protect.
 */
export function buildBootHttpApp(deps: { logger: FastifyBaseLogger; mediaDir: string }): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger, bodyLimit: 1024, onProtoPoisoning: 'error', onConstructorPoisoning: 'error', frameworkErrors, clientErrorHandler: clientErrors }) as unknown as FastifyInstance;
  installErrorHandler(app);
  registerBootMediaRoutes(app, deps.mediaDir);
  return app;
}
