// `deployr serve --workers N`: the composition root of a primary process that forks N workers (node:cluster), each running the whole service on the same ports.

import cluster, { type Worker } from 'node:cluster';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mediaBuilder } from '../cli/media-commands.js';
import { resolveHome, type ServiceConfig } from '../config/service-config.js';
import { writeServicePorts } from '../config/service-ports.js';
import { configuredMethods } from '../domain/security-settings.js';
import { createServiceLogger } from '../server/logger.js';
import { runService } from '../server/service.js';
import { loadOrCreateTlsMaterial } from '../server/tls-certificate.js';
import { createFsBlobStore } from '../store/fs-blob-store.js';
import { PrimaryCheckGate, WorkerCheckGate, type GateRequest } from './cluster-check-gate.js';
import { openHomeStore, openSigningKeys } from './open-store.js';

/** What a running service (one process or N workers) tells the person who started it. */
export interface BannerFacts {
  version: string;
  home: string;
  certFile: string;
  port: number;
  localPort: number;
  fingerprint: string;
  created: boolean;
  workers: number;
  /** The sign-in methods configured now (an empty list: "set a passcode" is the next thing to do). */
  methods: readonly string[];
  /** The plain-HTTP boot media port (`--boot-http-port`), when on. */
  bootHttpPort?: number | null;
}

/**
 * The start banner, written at once (one block, so that log lines do not fall inside it). The
 * commands it suggests carry `--home` when the home is not the default one, and setting a passcode
 * is suggested only while no sign-in method is configured. (Tests and tools parse the `HTTPS API:`,
 * `Local admin:` and fingerprint lines: keep them.)
 */
export function printBanner(say: (line: string) => void, b: BannerFacts): void {
  const homeArg = resolve(b.home) === resolveHome(undefined, {}) ? '' : ` --home ${/[\s'"$]/.test(b.home) ? `'${b.home.replace(/'/g, `'\\''`)}'` : b.home}`;
  const lines = [
    `deployr ${b.version} is running${b.workers > 1 ? ` (${b.workers} worker processes)` : ''}.`,
    `  HTTPS API:     https://localhost:${b.port}/v1  (home ${b.home})`,
    `  Local admin:   http://127.0.0.1:${b.localPort}`,
    ...(b.bootHttpPort !== undefined && b.bootHttpPort !== null ? [`  Boot media:    http://HOST:${b.bootHttpPort}/Content/Boot/boot.ipxe  (plain HTTP, boot files only; also over HTTPS)`] : []),
    `  TLS certificate${b.created ? ' (self-signed, made now)' : ''}: ${b.certFile}`,
    `  SHA-256 fingerprint: ${b.fingerprint}`,
    `  Sign-in methods: ${b.methods.length ? b.methods.join(', ') : 'none yet'}`,
    b.methods.length === 0
      ? `Next: set a passcode (deployr configure security${homeArg} --passcode), import a task sequence (deployr ts import${homeArg} examples/hello-world.json),`
      : `Next: import a task sequence (deployr ts import${homeArg} examples/hello-world.json), check the service (deployr configure check${homeArg}),`,
    `      then start a client: deployr client --server https://localhost:${b.port} --ca ${b.certFile}`,
    `      or on a machine with only Node.js and curl: curl -fsS --cacert server.crt -o bootstrap.sh https://SERVER:${b.port}/v1/Service/Bootstrap && sh bootstrap.sh`,
  ];
  say(lines.join('\n'));
}

/** Messages between the primary and its workers (over the cluster's IPC channel). */
type WorkerMessage =
  | { type: 'say'; line: string }
  | { type: 'listening'; port: number; localPort: number; fingerprint: string }
  | GateRequest;
type PrimaryMessage = { type: 'stop' };

/** How long a worker must have run for its death not to count towards the crash-loop back-off. */
const STABLE_MS = 10_000;
/** The longest wait before restarting a worker that keeps dying. */
const MAX_BACKOFF_MS = 30_000;
/** How long a worker may take to stop gracefully before it is killed. */
const STOP_GRACE_MS = 10_000;

/** The stand-alone client made by `npm run build` (`dist/bundle/deployr-client.mjs`), handed to bootstrap scripts. */
export const CLIENT_BUNDLE_PATH = fileURLToPath(new URL('../../bundle/deployr-client.mjs', import.meta.url));

/** Runs `deployr serve` with config.workers > 1: the primary role, or the worker role in a forked worker. */
export function serveWithWorkers(config: ServiceConfig, version: string, say: (line: string) => void): Promise<number> {
  return cluster.isWorker ? runWorker(config, version) : runPrimary(config, version, say);
}

/** A worker: the whole service on the shared ports; lines for the person go through the primary (which prints each once). */
async function runWorker(config: ServiceConfig, version: string): Promise<number> {
  const send = (m: WorkerMessage): boolean => (process.connected ? process.send?.(m) ?? false : false);
  // Passcode checks in flight are counted by the primary, for all workers together.
  const gate = new WorkerCheckGate((m) => send(m));
  let requestStop: () => void = () => {};
  let stopRequested = false;
  const stopped = new Promise<void>((resolve) => { requestStop = () => { stopRequested = true; resolve(); }; });
  // The primary decides when to stop (a Ctrl-C reaches the whole process group: only the primary acts on it).
  process.on('SIGINT', () => {});
  process.once('SIGTERM', () => requestStop());
  process.on('message', (m: PrimaryMessage) => { if (m?.type === 'stop') requestStop(); else gate.handle(m); });
  // The primary is gone (killed): do not serve on as an orphan.
  process.once('disconnect', () => { gate.refuseAll(); requestStop(); });

  try {
    const opened = await openHomeStore(config.home, { warn: (line) => send({ type: 'say', line }) });
    const { store, paths, digestKey } = opened;
    const { source: signingKeys } = await openSigningKeys(opened);
    const logger = createServiceLogger(config.logLevel, config.logFormat).child({ worker: cluster.worker?.id, pid: process.pid });
    const service = await runService({
      config, store, digestKey, signingKeys, paths: { tlsCert: paths.tlsCert, tlsKey: paths.tlsKey }, logger, version,
      say: (line) => send({ type: 'say', line }), blobs: createFsBlobStore(paths.content), gate, clientBundlePath: CLIENT_BUNDLE_PATH,
      bootMedia: mediaBuilder(paths.media, { clientBundle: CLIENT_BUNDLE_PATH, version }),
    });
    if (!stopRequested) send({ type: 'listening', port: service.port, localPort: service.localPort, fingerprint: service.tls.fingerprint });
    await stopped;
    await service.stop();
    return 0;
  } catch (err) {
    process.exitCode = 1;
    throw err;
  } finally {
    // Nothing else keeps the worker alive once the channel is closed (also after a failed start); the timer is a safety net only.
    setTimeout(() => process.exit(), 3000).unref();
    process.removeAllListeners('message');
    // Through the cluster worker, so that Node does not treat it as the primary going away (which exits 0 at once).
    if (process.connected) cluster.worker?.disconnect();
  }
}

interface Slot {
  n: number;
  worker: Worker | null;
  startedAt: number;
  /** Deaths in a row, each within STABLE_MS of its start. */
  quickDeaths: number;
  restart: NodeJS.Timeout | null;
}

/** The primary: makes the home, key, database schema and TLS certificate once, forks the workers, prints the banner, restarts and stops them. */
async function runPrimary(config: ServiceConfig, version: string, say: (line: string) => void): Promise<number> {
  const logger = createServiceLogger(config.logLevel, config.logFormat).child({ role: 'primary', pid: process.pid });
  // Once, here, so that workers do not race: the home folder (tightened) and its key files, the schema migrations, the sealed signing keys, the self-signed certificate.
  const opened = await openHomeStore(config.home, { warn: say, deep: true });
  let methods: ReturnType<typeof configuredMethods>;
  try {
    await openSigningKeys(opened);
    methods = configuredMethods((await opened.store.getSecurity()).settings);
  } finally { await opened.store.close(); }
  const certFile = config.tlsCertFile ?? opened.paths.tlsCert;
  const tls = await loadOrCreateTlsMaterial({ cert: opened.paths.tlsCert, key: opened.paths.tlsKey }, { cert: config.tlsCertFile, key: config.tlsKeyFile });

  // Each warning is printed once, not once per worker.
  const printed = new Map<string, number>();
  const sayOnce = (line: string): void => {
    const now = Date.now();
    if ((printed.get(line) ?? -Infinity) > now - 10_000) return;
    printed.set(line, now);
    say(line);
  };

  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let ports: { port: number; localPort: number } | null = null;
  const listening = new Set<number>();
  let startupDone: (err: Error | null) => void = () => {};
  const started = new Promise<void>((resolve, reject) => { startupDone = (err) => (err ? reject(err) : resolve()); });
  let allStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { allStopped = resolve; });
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({ n: i + 1, worker: null, startedAt: 0, quickDeaths: 0, restart: null }));
  const live = (): Worker[] => slots.flatMap((s) => (s.worker ? [s.worker] : []));
  const gate = new PrimaryCheckGate();

  const fork = (slot: Slot): void => {
    slot.restart = null;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.startedAt = Date.now();
    worker.on('message', (m: WorkerMessage) => {
      if (m?.type === 'gate-enter' || m?.type === 'gate-leave') {
        const reply = gate.handle(worker.id, m);
        if (reply && worker.isConnected()) worker.send(reply);
        return;
      }
      if (m?.type === 'say') sayOnce(m.line);
      if (m?.type !== 'listening') return;
      // Port 0: cluster hands every worker the same listening socket, so they must all report the same ports.
      if (!ports) ports = { port: m.port, localPort: m.localPort };
      else if (ports.port !== m.port || ports.localPort !== m.localPort) {
        const why = `worker ${slot.n} listens on ${m.port}/${m.localPort}, the others on ${ports.port}/${ports.localPort}`;
        if (phase === 'starting') startupDone(new Error(why));
        else logger.error({ worker: slot.n }, why);
      }
      listening.add(slot.n);
      if (phase === 'starting' && listening.size === slots.length) startupDone(null);
      else if (phase === 'running') logger.info({ worker: slot.n, pid: worker.process.pid }, 'worker restarted and listening');
    });
    worker.on('exit', (code, signal) => {
      slot.worker = null;
      gate.forget(worker.id);
      listening.delete(slot.n);
      if (phase === 'stopping') {
        if (live().length === 0) allStopped();
        return;
      }
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (phase === 'starting') {
        startupDone(new Error(`worker ${slot.n} (pid ${worker.process.pid}) ended before it was listening (${how})`));
        return;
      }
      slot.quickDeaths = Date.now() - slot.startedAt < STABLE_MS ? slot.quickDeaths + 1 : 0;
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** slot.quickDeaths);
      say(`worker ${slot.n} (pid ${worker.process.pid}) ended unexpectedly (${how}); restarting it in ${(delay / 1000).toFixed(1)} s`);
      logger.error({ worker: slot.n, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker ended unexpectedly; restarting it');
      slot.restart = setTimeout(() => fork(slot), delay);
    });
  };

  const stopAll = (): Promise<void> => {
    if (phase !== 'stopping') {
      phase = 'stopping';
      for (const s of slots) if (s.restart) clearTimeout(s.restart);
      const workers = live();
      if (workers.length === 0) allStopped();
      for (const w of workers) {
        if (w.isConnected()) w.send({ type: 'stop' } satisfies PrimaryMessage);
        else w.process.kill('SIGTERM');
      }
      const killer = setTimeout(() => { for (const w of live()) w.process.kill('SIGKILL'); }, STOP_GRACE_MS);
      void stopped.then(() => clearTimeout(killer));
    }
    return stopped;
  };
  let signalled: (signal: string) => void = () => {};
  const signalledPromise = new Promise<string>((resolve) => { signalled = resolve; });
  const onSignal = (signal: string): void => signalled(signal);
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  for (const slot of slots) fork(slot);
  const first = await Promise.race([
    started.then(() => null, (err: Error) => err),
    signalledPromise.then((signal) => new Error(`${signal} before the workers were listening`)),
  ]);
  if (first) {
    await stopAll();
    throw first;
  }
  phase = 'running';
  const p = ports as unknown as { port: number; localPort: number };
  writeServicePorts(config.home, { port: p.port, localPort: p.localPort, pid: process.pid, startedAt: new Date().toISOString() });
  printBanner(say, { version, home: config.home, certFile, port: p.port, localPort: p.localPort, fingerprint: tls.fingerprint, created: tls.created, workers: slots.length, methods, bootHttpPort: config.bootHttpPort });
  const signal = await signalledPromise;
  say(`${signal}: stopping ${live().length} worker(s)…`);
  await stopAll();
  return 0;
}
