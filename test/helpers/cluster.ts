// Several real `deployr serve` nodes on loopback sharing one database and one content folder, as docs/scale-out.md sets them up.

import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, type ServiceProcess } from './deployr-process.js';
import { httpsJson } from './https-json.js';

/** A running cluster: node homes are copies of the first one's keys and certificate. */
export interface Cluster {
  /** The running nodes (a killed node's slot keeps its last process until `restart`). */
  nodes: ServiceProcess[];
  /** Each node's home folder. */
  homes: string[];
  /** What every node (and every admin command) is given: DEPLOYR_DATABASE_URL and DEPLOYR_CONTENT_DIR. */
  env: Record<string, string>;
  /** Starts node `i` again on its home (after a kill). */
  restart(i: number): Promise<ServiceProcess>;
  /** Stops every node and removes the homes and content folder. */
  close(): Promise<void>;
}

/**
 * Starts `size` nodes on `databaseUrl` with one shared content folder. The first node makes the
 * keys (audit.key, keys/signing-kek) and TLS certificate; the others get copies, as an
 * administrator copies them (docs/scale-out.md), so one fingerprint and one audit chain serve all.
 */
export async function startCluster(options: { size: number; databaseUrl: string; env?: Record<string, string> }): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'deployr-cluster-'));
  const contentDir = join(root, 'content');
  mkdirSync(contentDir, { mode: 0o700 });
  const env = { DEPLOYR_DATABASE_URL: options.databaseUrl, DEPLOYR_CONTENT_DIR: contentDir, ...options.env };
  const homes = Array.from({ length: options.size }, (_, i) => join(root, `node${i + 1}`));
  const nodes: ServiceProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    nodes.push(await startService({ home: homes[0]!, env }));
    for (const home of homes.slice(1)) {
      mkdirSync(home, { mode: 0o700 });
      for (const part of ['audit.key', 'keys', 'tls']) cpSync(join(homes[0]!, part), join(home, part), { recursive: true });
    }
    nodes.push(...await Promise.all(homes.slice(1).map((home) => startService({ home, env }))));
  } catch (err) {
    await close();
    throw err;
  }
  return {
    nodes, homes, env, close,
    restart: async (i) => (nodes[i] = await startService({ home: homes[i]!, env })),
  };
}

/** Loopback source addresses 127.X.Y.Z, a new one at each call, from `127.<first>.1.1` on: throttling of one test never touches another's. */
export function sourceAddresses(first: number): () => string {
  let n = 0;
  return () => { n += 1; return `127.${first}.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`; };
}

/** A passcode login (boot context) against one node from `localAddress`: the status, the token ('' when refused) and Retry-After. */
export async function passcodeLogin(url: string, passcode: string, options: { localAddress: string; deviceId?: string }): Promise<{ status: number; token: string; retryAfter: string | undefined }> {
  const r = await httpsJson(`${url}/v1/auth/passcode`, { body: { passcode, context: 'boot', ...(options.deviceId ? { deviceId: options.deviceId } : {}) }, localAddress: options.localAddress });
  return { status: r.status, token: (r.body as { token?: string } | null)?.token ?? '', retryAfter: r.headers['retry-after'] as string | undefined };
}

/** A loopback TCP proxy in front of a server, whose connections a test can cut (the database "goes away") and restore. */
export interface CuttableProxy {
  port: number;
  /** Destroys every open connection and refuses new ones. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 forwarding to `target` (host:port on loopback). */
export async function cuttableProxy(target: { host: string; port: number }): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()); }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const stop = (): Promise<void> => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); });
  return {
    port,
    cut: stop,
    restore: () => new Promise((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}
