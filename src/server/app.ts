// Builds the HTTPS API application (without listening): routes, the authentication hook and the error table.

import type { ServerOptions as HttpsServerOptions } from 'node:https';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Principal } from '../domain/principal.js';
import type { LoginService } from '../auth/login-service.js';
import type { TaskSequenceCatalog } from '../engine/task-sequence-catalog.js';
import type { StepDefinitionCatalog } from '../engine/step-definition-catalog.js';
import type { ContentCatalog } from '../engine/content-catalog.js';
import type { RunRegistry } from '../engine/run-registry.js';
import type { ContentLibrary } from '../engine/content-library.js';
import type { TokenReach } from '../engine/token-reach.js';
import { clientErrors, frameworkErrors, installErrorHandler } from './error-status.js';
import { authenticationHook, requireTokens, staleConnectionHook } from './authenticate.js';
import type { PeerCertificate } from './peer-certificate.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerAuthRoutes, type CertificateLogin, type EntraLogin } from './routes/auth.js';
import { registerTaskSequenceRoutes } from './routes/task-sequences.js';
import { registerStepDefinitionRoutes } from './routes/step-definitions.js';
import { registerRunRoutes } from './routes/runs.js';
import { registerBootstrapRoutes, type BootstrapDeps } from './routes/bootstrap.js';
import { registerContentDeliveryRoutes, registerContentRoutes } from './routes/content-items.js';
import { registerAdminApi, type AdminApiDeps } from './routes/admin/index.js';
import { registerConsoleRoutes } from './routes/console.js';
import { collectOpenApi } from './openapi.js';
import { registerBootMediaRoutes } from './routes/boot-media.js';

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
  /** Custom step definitions (readable with any valid token). */
  stepDefinitions: StepDefinitionCatalog;
  content: ContentCatalog;
  /** What a token limited to a task sequence may read (its closure); every read route asks it. */
  reach: TokenReach;
  /** Runs: registration, progress, logs, server-side scripts. */
  runs: RunRegistry;
  /** The bootstrap script's pins and the client it hands out (no bootstrap routes without it). */
  bootstrap?: BootstrapDeps;
  /** The folder whose boot media are published under /Content/Boot/ (no token: they hold no secret). */
  bootMediaDir?: string;
  /** Content versions and file delivery, when a blob store is wired. */
  contentLibrary?: ContentLibrary;
  version: string;
  logger: FastifyBaseLogger;
  /** Certificate authentication, when wired (see routes/auth.ts). */
  certificateLogin?: CertificateLogin;
  /** Entra ID authentication, when wired. */
  entraLogin?: EntraLogin;
  /** Reads a request's client certificate (default: peer-certificate.ts); the service marks connections set up under an older trust. */
  peerOf?: (req: FastifyRequest) => PeerCertificate;
  /** False for a connection set up under an older client-certificate trust: its response then closes it, so the client reconnects under the new trust. */
  isCurrentConnection?: (socket: object) => boolean;
  /** The admin API (/v1/admin) and the web console (/console/), when wired. */
  admin?: AdminApiDeps & { consoleDir?: string };
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
    frameworkErrors,
    clientErrorHandler: clientErrors,
    // A child logger per request only when request lines are written (info or lower): at warn
    // and above an error still logs, without the request id, and a request costs less.
    childLoggerFactory: (logger: FastifyBaseLogger, bindings: Record<string, unknown>, opts: Record<string, unknown>) =>
      (logger as FastifyBaseLogger & { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.('info') === false ? logger : logger.child(bindings, opts),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    ...(options.https ? { https: options.https } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  app.decorateRequest('principal', null);
  // Every body is JSON: fastify's built-in text/plain parser would hand a string to the schema
  // (400 "body must be object"); without it, any content type but JSON is a 415.
  app.removeContentTypeParser('text/plain');
  installErrorHandler(app);
  const isCurrentConnection = deps.isCurrentConnection;
  // One onRequest hook per route: on protected routes it checks the connection and the token, on
  // public ones only the connection (a refused request on an outdated connection closes it too).
  requireTokens(app, authenticationHook(deps.login, deps.peerOf, isCurrentConnection), isCurrentConnection && staleConnectionHook(isCurrentConnection));
  const openapi = collectOpenApi(app, { version: deps.version });
  registerHealthRoutes(app, deps.version);
  registerAuthRoutes(app, deps);
  registerTaskSequenceRoutes(app, deps.taskSequences);
  registerStepDefinitionRoutes(app, deps.stepDefinitions, deps.reach);
  registerContentRoutes(app, deps.content, deps.reach);
  registerRunRoutes(app, deps.runs);
  if (deps.bootstrap) registerBootstrapRoutes(app, deps.bootstrap);
  if (deps.contentLibrary) registerContentDeliveryRoutes(app, deps.contentLibrary, deps.reach);
  if (deps.bootMediaDir) registerBootMediaRoutes(app, deps.bootMediaDir);
  if (deps.admin) {
    registerAdminApi(app, deps.admin);
    registerConsoleRoutes(app, deps.admin.consoleDir);
  }
  app.get('/v1/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => openapi());
  return app;
}
