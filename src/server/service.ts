// Runs the service: the HTTPS API and the local admin listener, settings that follow the store, a graceful stop.

import type { Logger } from 'pino';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { LocalStatus } from '../api/contract.js';
import { LoginService } from '../auth/login-service.js';
import { createArgon2Hasher, type PasscodeHasher } from '../auth/passcode-hasher.js';
import { SecurityState } from '../auth/security-state.js';
import { createTokenService } from '../auth/token-service.js';
import type { ServiceConfig } from '../config/service-config.js';
import { configuredMethods } from '../domain/security-settings.js';
import { ContentCatalog } from '../engine/content-catalog.js';
import type { Store } from '../engine/ports.js';
import { TaskSequenceCatalog } from '../engine/task-sequence-catalog.js';
import { buildApp } from './app.js';
import { buildLocalApp } from './local-app.js';
import { loadOrCreateTlsMaterial, type TlsMaterial } from './tls-certificate.js';

/** A running service. */
export interface RunningService {
  port: number;
  localPort: number;
  tls: TlsMaterial;
  stop(): Promise<void>;
}

/** What the service is started with. */
export interface ServiceDeps {
  config: ServiceConfig;
  store: Store;
  /** Keys the throttle's digests of wrong values (kept outside the database). */
  digestKey: Buffer;
  paths: { tlsCert: string; tlsKey: string };
  logger: Logger;
  version: string;
  hasher?: PasscodeHasher;
  /** Lines for the person who started it (banner, warnings). */
  say: (line: string) => void;
}

/** Starts both listeners and returns once they accept connections. */
export async function runService(deps: ServiceDeps): Promise<RunningService> {
  const { config, store, logger } = deps;
  const startedAt = new Date().toISOString();
  const tls = await loadOrCreateTlsMaterial({ cert: deps.paths.tlsCert, key: deps.paths.tlsKey }, { cert: config.tlsCertFile, key: config.tlsKeyFile });
  const security = await SecurityState.load(store);
  const tokens = await createTokenService(store, { ttlSeconds: config.tokenTtlSeconds });
  const login = new LoginService({
    store, security, tokens, hasher: deps.hasher ?? createArgon2Hasher(), digestKey: deps.digestKey,
    onAlert: (n) => logger.warn({ consecutiveFailures: n }, 'many consecutive failed logins: passcode checks are slowed for everyone until a login succeeds'),
  });
  const fastifyLogger = logger as unknown as FastifyBaseLogger;
  const app: FastifyInstance = buildApp({
    login, taskSequences: new TaskSequenceCatalog(store), content: new ContentCatalog(store), version: deps.version, logger: fastifyLogger,
  }, { https: { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' } });
  const local = buildLocalApp({
    version: deps.version, logger: fastifyLogger,
    status: async (): Promise<LocalStatus> => {
      await security.refresh();
      const { global } = await store.throttleState([]);
      return {
        version: deps.version, startedAt, pid: process.pid, port: config.port, appliedRevision: security.settings.revision,
        tlsFingerprint: tls.fingerprint, failedLogins: { consecutive: global.consecutiveFailures, alert: global.alertSince > 0 },
      };
    },
  });

  const describe = (): void => {
    const s = security.settings.settings;
    const methods = configuredMethods(s);
    logger.info({ revision: security.settings.revision, methods }, 'security settings applied');
    if (methods.length === 0) {
      deps.say('WARNING: no authentication method is configured: clients cannot proceed, and no token is issued to anyone.');
      deps.say('         Set a passcode with:  deployr configure security --passcode' + (config.home ? `  (with --home ${config.home} if you use another home)` : ''));
    }
    if (s.bypass) deps.say('WARNING: bypass (anonymous) authentication is ON: anyone who reaches this server can run any task sequence. Use only on an isolated lab network.');
  };
  security.onChange(describe);
  security.startPolling(config.settingsPollMs, (err) => logger.error({ err }, 'could not read the security settings'));

  await app.listen({ port: config.port, host: config.host });
  try {
    await local.listen({ port: config.localPort, host: '127.0.0.1' });
  } catch (err) {
    await app.close();
    throw err;
  }
  const port = (app.server.address() as { port: number }).port;
  const localPort = (local.server.address() as { port: number }).port;
  describe();

  let stopping: Promise<void> | null = null;
  return {
    port, localPort, tls,
    stop: () => {
      stopping ??= (async () => {
        security.stopPolling();
        await Promise.allSettled([app.close(), local.close()]);
        await store.close();
      })();
      return stopping;
    },
  };
}
