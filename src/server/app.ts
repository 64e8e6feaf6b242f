// Builds the HTTPS API application (without listening): routes, the authentication hook and the error table.

import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Principal } from '../domain/principal.js';
import type { LoginService } from '../auth/login-service.js';
import type { TaskSequenceCatalog } from '../engine/task-sequence-catalog.js';
import type { ContentCatalog } from '../engine/content-catalog.js';
import { installErrorHandler } from './error-status.js';
import { authenticationHook } from './authenticate.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerAuthRoutes, type CertificateLogin, type EntraLogin } from './routes/auth.js';
import { registerTaskSequenceRoutes } from './routes/task-sequences.js';
import { registerContentRoutes } from './routes/content-items.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, set by the authentication hook on protected routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Routes open without a token: health, the method list and the login routes. */
    public?: boolean;
  }
}

/** What the API needs. */
export interface AppDeps {
  login: LoginService;
  taskSequences: TaskSequenceCatalog;
  content: ContentCatalog;
  version: string;
  logger: FastifyBaseLogger;
  /** Certificate authentication, when wired (see routes/auth.ts). */
  certificateLogin?: CertificateLogin;
  /** Entra ID authentication, when wired. */
  entraLogin?: EntraLogin;
}

/** Largest JSON body accepted, in bytes. */
export const BODY_LIMIT = 64 * 1024;

/** Builds the API app; with `https` options it serves TLS, otherwise plain HTTP (tests with inject). */
export function buildApp(deps: AppDeps, options: { https?: HttpsServerOptions } = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    ...(options.https ? { https: options.https } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.decorateRequest('principal', null);
  installErrorHandler(app);
  app.addHook('onRequest', authenticationHook(deps.login));
  registerHealthRoutes(app, deps.version);
  registerAuthRoutes(app, deps);
  registerTaskSequenceRoutes(app, deps.taskSequences);
  registerContentRoutes(app, deps.content);
  return app;
}
