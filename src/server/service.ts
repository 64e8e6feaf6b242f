// Runs the service: the HTTPS API and the local admin listener, settings that follow the store, a graceful stop.

import { describeAge, describeDuration } from '../domain/duration-text.js';
import { randomBytes } from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { LocalStatus } from '../api/contract.js';
import { ClientCertificateTrust, createCertificateLogin } from '../auth/certificate-login.js';
import { createEntraLogin } from '../auth/entra-login.js';
import { createEntraValidator } from '../auth/entra-validator.js';
import { LoginService } from '../auth/login-service.js';
import type { CheckGate } from '../auth/check-gate.js';
import { createArgon2Hasher, type PasscodeHasher } from '../auth/passcode-hasher.js';
import { SecurityState } from '../auth/security-state.js';
import type { SigningKeySource } from '../auth/signing-keys.js';
import { createTokenService } from '../auth/token-service.js';
import type { ServiceConfig } from '../config/service-config.js';
import { configuredMethods } from '../domain/security-settings.js';
import { ContentCatalog } from '../engine/content-catalog.js';
import { TokenReach } from '../engine/token-reach.js';
import { ContentLibrary } from '../engine/content-library.js';
import type { ContentBlobStore, Store } from '../engine/ports.js';
import { TaskSequenceCatalog } from '../engine/task-sequence-catalog.js';
import { StepDefinitionCatalog } from '../engine/step-definition-catalog.js';
import { RunRegistry } from '../engine/run-registry.js';
import { join } from 'node:path';
import { homePaths } from '../config/service-config.js';
import { buildApp } from './app.js';
import { loadClientBundle } from './client-bundle.js';
import { buildBootHttpApp, buildLocalApp } from './local-app.js';
import { peerCertificate } from './peer-certificate.js';
import { loadOrCreateTlsMaterial, publicKeyPin, type TlsMaterial } from './tls-certificate.js';
import { AdminSessions } from '../auth/admin-sessions.js';
import { Administrators } from '../auth/administrators.js';
import { ScopedPasscodes } from '../auth/scoped-passcodes.js';
import { scopedPasscodeLive } from '../domain/scoped-passcode.js';
import { SecurityAdmin } from '../auth/security-admin.js';
import { BootMediaJobs, type BootMediaBuilder } from '../engine/boot-media.js';
import { ContentLifecycle } from '../engine/content-lifecycle.js';

/** A running service. */
export interface RunningService {
  port: number;
  localPort: number;
  /** The plain-HTTP boot media port, when on. */
  bootHttpPort: number | null;
  tls: TlsMaterial;
  stop(): Promise<void>;
}

/** What the service is started with. */
export interface ServiceDeps {
  config: ServiceConfig;
  store: Store;
  /** Keys the throttle's digests of wrong values (kept outside the database). */
  digestKey: Buffer;
  /** The token-signing keys (sealed in the store; opened with the key-encryption key the composition root read). */
  signingKeys: SigningKeySource;
  paths: { tlsCert: string; tlsKey: string };
  logger: Logger;
  version: string;
  hasher?: PasscodeHasher;
  /** The content library's file store (content versions and file delivery are off without it). */
  blobs?: ContentBlobStore;
  /** Lines for the person who started it (banner, warnings). */
  say: (line: string) => void;
  /** The stand-alone client file that bootstrap scripts download (`dist/bundle/deployr-client.mjs`); without it they need deployr installed. */
  clientBundlePath?: string;
  /** Where passcode checks in flight are counted (default: in this process; `serve --workers` counts them in the primary). */
  gate?: CheckGate;
  /** The built web console (default: dist/web); the admin API is served either way. */
  consoleDir?: string;
  /** Builds boot media into the home's media folder for the admin API (src/cli/media-commands.ts, wired in src/bin); without it the console cannot build them. */
  bootMedia?: BootMediaBuilder;
}

/** How often Node looks for requests past their time: a quarter of the limit, between 250 ms and Node's default 30 s. */
function requestCheckInterval(requestTimeoutMs: number): number {
  return Math.min(30_000, Math.max(250, Math.floor(requestTimeoutMs / 4)));
}

/** Starts both listeners and returns once they accept connections. */
export async function runService(deps: ServiceDeps): Promise<RunningService> {
  const { config, store, logger } = deps;
  const startedAt = new Date().toISOString();
  const tls = await loadOrCreateTlsMaterial({ cert: deps.paths.tlsCert, key: deps.paths.tlsKey }, { cert: config.tlsCertFile, key: config.tlsKeyFile });
  const security = await SecurityState.load(store);
  const clientBundle = deps.clientBundlePath ? await loadClientBundle(deps.clientBundlePath) : null;
  if (deps.clientBundlePath && !clientBundle) logger.warn({ path: deps.clientBundlePath }, 'no client bundle: bootstrap scripts will need deployr installed on the machine (npm run build makes the bundle)');
  const tokens = await createTokenService(deps.signingKeys, { ttlSeconds: config.tokenTtlSeconds });
  const hasher = deps.hasher ?? createArgon2Hasher();
  const login = new LoginService({
    store, security, tokens, hasher, digestKey: deps.digestKey, ...(deps.gate ? { gate: deps.gate } : {}),
    taskSequenceExists: async (id) => (await store.getTaskSequence(id)) !== null,
    onAlert: (n) => logger.warn({ consecutiveFailures: n }, 'many consecutive failed logins: passcode checks are slowed for everyone until a login succeeds'),
  });
  const fastifyLogger = logger as unknown as FastifyBaseLogger;
  // Client certificates are asked for, never required; the trust follows the settings and the CRL file without a restart.
  const tlsBase = { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' as const };
  const trust = new ClientCertificateTrust(security, {
    apply: (options) => {
      const server = app.server as unknown as HttpsServer;
      server.setSecureContext({ ...tlsBase, ...options });
      // Sessions and idle connections set up under the old CA bundle or CRL must not carry on.
      server.setTicketKeys(randomBytes(48));
      server.closeIdleConnections();
    },
    onApplied: (why) => logger.info({ why }, 'client-certificate trust applied to new connections'),
    onError: (err, why) => {
      logger.error({ err, why }, 'could not apply the client-certificate trust');
      deps.say(`WARNING: the client-certificate trust could not be ${why === 'start' ? 'loaded; certificate logins are refused until it is fixed' : 'reloaded; the previous one stays in force'}: ${(err as Error).message}`);
    },
  });
  const app: FastifyInstance = buildApp({
    login, taskSequences: new TaskSequenceCatalog(store), stepDefinitions: new StepDefinitionCatalog(store), content: new ContentCatalog(store), reach: new TokenReach(store), version: deps.version, logger: fastifyLogger,
    runs: new RunRegistry({ store, scriptsDir: join(homePaths(config.home).content, 'Scripts'), staleAfterSeconds: config.runStaleAfterSeconds }),
    bootstrap: { fingerprint: tls.fingerprint, publicKeyPin: publicKeyPin(tls.cert), clientBundle },
    ...(deps.blobs ? { contentLibrary: new ContentLibrary(store, deps.blobs) } : {}),
    bootMediaDir: homePaths(config.home).media,
    certificateLogin: createCertificateLogin({ login, security }),
    entraLogin: createEntraLogin({ login, security, validator: createEntraValidator() }),
    peerOf: (req) => trust.peerForConnection(req.raw.socket, peerCertificate(req)),
    isCurrentConnection: (socket) => trust.isCurrentConnection(socket),
    admin: {
      sessions: new AdminSessions({ store, hasher, digestKey: deps.digestKey, policy: { idleSeconds: config.adminSessionIdleSeconds, maxSeconds: config.adminSessionMaxSeconds } }),
      administrators: new Administrators(store, hasher), security: new SecurityAdmin(store, hasher), readSecurity: () => store.getSecurity(),
      passcodes: new ScopedPasscodes(store, hasher),
      taskSequences: new TaskSequenceCatalog(store), stepDefinitions: new StepDefinitionCatalog(store), content: new ContentCatalog(store),
      ...(deps.blobs ? { contentLibrary: new ContentLibrary(store, deps.blobs), contentLifecycle: new ContentLifecycle(store, deps.blobs) } : {}),
      runs: new RunRegistry({ store }), runWatch: store, audit: store, logins: store, uploadDir: join(config.home, 'uploads'),
      ...(deps.consoleDir ? { consoleDir: deps.consoleDir } : {}),
      ...(deps.bootMedia ? { bootMedia: new BootMediaJobs(deps.bootMedia, store) } : {}), tlsFingerprint: tls.fingerprint,
    },
  }, { https: { ...tlsBase, ...trust.tlsOptions, connectionsCheckingInterval: requestCheckInterval(config.requestTimeoutMs) } });
  // A client that stops reading (a download it no longer takes) must not hold a connection, its
  // send buffers and an open file for ever: after this long without a byte either way it is closed.
  app.server.setTimeout(config.idleTimeoutMs);
  // A client that trickles its request (a byte of body just under every idle timeout) is cut off
  // too: the whole request must arrive within this time. A response (a download) is not limited.
  const httpServer = app.server as unknown as HttpsServer;
  httpServer.requestTimeout = config.requestTimeoutMs;
  httpServer.headersTimeout = Math.min(httpServer.headersTimeout, config.requestTimeoutMs);
  app.server.on('connection', (socket: Socket) => trust.noteConnection(socket));
  app.server.on('secureConnection', (socket: TLSSocket) => trust.noteHandshake(socket));
  trust.start();
  const local = buildLocalApp({
    version: deps.version, logger: fastifyLogger,
    status: async (): Promise<LocalStatus> => {
      await security.refresh();
      const { global } = await store.throttleState([]);
      return {
        version: deps.version, startedAt, pid: process.pid, port: (app.server.address() as { port: number } | null)?.port ?? config.port, appliedRevision: security.settings.revision,
        tlsFingerprint: tls.fingerprint, failedLogins: { consecutive: global.consecutiveFailures, alert: global.alertSince > 0 },
      };
    },
  });

  const describe = (): void => {
    const s = security.settings.settings;
    const methods = configuredMethods(s);
    logger.info({ revision: security.settings.revision, methods }, 'security settings applied');
    // Live scoped passcodes alone turn the passcode method on (docs/passcodes.md).
    if (methods.length === 0 && !security.scopedPasscodes.some((p) => scopedPasscodeLive(p, Date.now()))) {
      // One write, so that no log line lands between the warning and its advice.
      deps.say([
        'WARNING: no authentication method is configured: clients cannot proceed, and no token is issued to anyone.',
        `         Set a passcode with:  deployr configure security --passcode --home ${/\s/.test(config.home) ? JSON.stringify(config.home) : config.home}`,
      ].join('\n'));
    }
    if (s.bypass) deps.say('WARNING: bypass (anonymous) authentication is ON: anyone who reaches this server can run any task sequence. Use only on an isolated lab network.');
    // The optional rotation reminder: a warning only; the passcode never expires by itself.
    const ageSeconds = s.passcode ? Math.floor((Date.now() - Date.parse(s.passcode.changedAt)) / 1000) : 0;
    if (s.passcode && s.remindAfterSeconds > 0 && ageSeconds > s.remindAfterSeconds) {
      const days = (n: number): number => Math.floor(n / 86400);
      logger.warn({ passcodeAgeDays: days(ageSeconds), remindAfterDays: days(s.remindAfterSeconds) }, 'passcode rotation reminder: the passcode is older than the reminder period; consider changing it (deployr configure security --passcode)');
      deps.say(`REMINDER: the passcode was last changed ${describeAge(ageSeconds)} ago (reminder after ${describeDuration(s.remindAfterSeconds)}); consider changing it: deployr configure security --passcode`);
    }
  };
  security.onChange(describe);
  security.startPolling(config.settingsPollMs, (err) => logger.error({ err }, 'could not read the security settings'));
  // A signing-key rotation saved by any process: the new key signs here from the next poll on.
  const keyPoll = setInterval(() => { tokens.refreshKeys().catch((err: unknown) => logger.error({ err }, 'could not read the signing keys')); }, config.settingsPollMs);
  keyPoll.unref();

  const boot = config.bootHttpPort === null ? null : buildBootHttpApp({ logger: fastifyLogger, mediaDir: homePaths(config.home).media });
  await app.listen({ port: config.port, host: config.host });
  try {
    await local.listen({ port: config.localPort, host: '127.0.0.1' });
    if (boot) await boot.listen({ port: config.bootHttpPort as number, host: config.host });
  } catch (err) {
    await Promise.allSettled([app.close(), local.close()]);
    throw err;
  }
  const bootHttpPort = boot ? (boot.server.address() as { port: number }).port : null;
  const port = (app.server.address() as { port: number }).port;
  const localPort = (local.server.address() as { port: number }).port;
  describe();
  const { global: failed } = await store.throttleState([]);
  if (failed.alertSince > 0) {
    logger.warn({ consecutiveFailures: failed.consecutiveFailures, alertSince: new Date(failed.alertSince).toISOString() }, 'many consecutive failed logins (alert raised before this start): passcode checks are slowed for everyone until a login succeeds');
  }

  let stopping: Promise<void> | null = null;
  return {
    port, localPort, bootHttpPort, tls,
    stop: () => {
      stopping ??= (async () => {
        security.stopPolling();
        clearInterval(keyPoll);
        trust.stop();
        await Promise.allSettled([app.close(), local.close(), ...(boot ? [boot.close()] : [])]);
        await store.close();
      })();
      return stopping;
    },
  };
}
