// Benchmark: a 5,000-machine boot storm under a 1,000-guesses-a-second attack on 3 nodes sharing PostgreSQL (against 1 node, and SQLite), and protected reads on PostgreSQL against SQLite.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, type Cluster } from '../test/helpers/cluster.js';
import { appliedRevision, EXPORTS_DIR, runDeployr, waitFor } from '../test/helpers/deployr-process.js';
import type { AttackReport } from './helpers/attacker.js';
import { cpuMs, cpuMsByName, killHelpers, machineTicks, median, nextMessage, percentile, startHelper } from './helpers/bench-kit.js';
import type { StormReport } from './helpers/storm-clients.js';

const PASSCODE = 'Harbour-Scale-Lantern-73';
/** Machines in each storm: BENCH_CLIENTS, default 5,000. */
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 5000);
/** The shared database of the multi-node runs: BENCH_DATABASE=postgres (default) or sqlite (one SQLite file shared by the nodes). */
const DATABASE = process.env.BENCH_DATABASE === 'sqlite' ? 'sqlite' : 'postgres';
/** The PostgreSQL database; each run uses a fresh schema in it, dropped at the end. */
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Processes the storm's clients are spread over: BENCH_CLIENT_PROCESSES, default 4. */
const CLIENT_PROCESSES = Math.max(1, Number(process.env.BENCH_CLIENT_PROCESSES ?? 4));
/**
 * Logins each client process has in flight at once (BENCH_MAX_CONNECTING, default 128; 0 = all of its
 * clients at once). The service listens with a backlog of 511: 5,000 connects at once overflow it, and
 * the kernel's SYN retransmits (1 s, 3 s, 7 s, …) then dominate the figures (see docs/performance.md).
 */
const MAX_CONNECTING = Number(process.env.BENCH_MAX_CONNECTING ?? 128);
/** Wrong guesses a second, spread over the nodes (BENCH_ATTACK_RATE, default 1,000). */
const ATTACK_RATE = Number(process.env.BENCH_ATTACK_RATE ?? 1000);
/**
 * The attacker's guesses outstanding at most (beyond that a due guess is skipped and counted): the
 * service holds a throttled source's answer up to 1 s (a tarpit), so 1,000 a second needs about 1,000
 * kept-alive connections. BENCH_ATTACK_OUTSTANDING, default 1.3 × the rate.
 */
const ATTACK_OUTSTANDING = Number(process.env.BENCH_ATTACK_OUTSTANDING ?? Math.ceil(1.3 * ATTACK_RATE));
/** How long the attack runs before the storm starts, so that its connections are open and it is throttled (BENCH_ATTACK_LEAD_MS). */
const ATTACK_LEAD_MS = Number(process.env.BENCH_ATTACK_LEAD_MS ?? 4000);
/** The attacker's source addresses (four, so that with three nodes every address reaches every node). */
const ATTACK_ADDRESSES = '127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5';
/** Storms per configuration (BENCH_STORMS, default 1). */
const STORMS = Math.max(1, Number(process.env.BENCH_STORMS ?? 1));
/** Alternating read rounds of 2 s each (BENCH_READ_ROUNDS, default 6). */
const READ_ROUNDS = Math.max(1, Number(process.env.BENCH_READ_ROUNDS ?? 6));
/** Targets from issue 16. */
const TARGET_ALL_IN_MS = 4000;

/** The part of autocannon's API used here. */
type Autocannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<{ requests: { average: number; total: number }; non2xx: number; errors: number }>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** A fresh database for one configuration, and how to remove it. */
interface BenchDatabase { kind: 'postgres' | 'sqlite'; url: string; label: string; drop(): Promise<void> }

/** Schemas created and not yet dropped (dropped in `finally` whatever happened). */
const schemas = new Set<string>();

async function withPg<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try { return await work(client); } finally { await client.end(); }
}

async function dropSchema(schema: string): Promise<void> {
  await withPg((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  schemas.delete(schema);
}

/** A fresh PostgreSQL schema (`bench_<random>`) or a fresh SQLite file under `dir`. */
async function freshDatabase(kind: 'postgres' | 'sqlite', dir: string, sqliteLabel = 'SQLite'): Promise<BenchDatabase> {
  if (kind === 'sqlite') {
    const file = join(dir, `shared-${randomBytes(4).toString('hex')}.db`);
    return { kind, url: `sqlite:${file}`, label: sqliteLabel, drop: async () => { for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true }); } };
  }
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  schemas.add(schema);
  await withPg((c) => c.query(`CREATE SCHEMA ${schema}`));
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('schema', schema);
  return { kind, url: url.toString(), label: 'PostgreSQL', drop: () => dropSchema(schema) };
}

/** Runs `deployr ARGS` against the cluster's database from its first node's home; fails on a non-zero exit. */
async function admin(cluster: Cluster, args: string[], input = ''): Promise<string> {
  const r = await runDeployr(args, { home: cluster.homes[0] as string, env: cluster.env, input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`deployr ${args.slice(0, 2).join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** POSTs a login and returns the token. */
function loginOnce(nodeUrl: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ passcode: PASSCODE, context: 'boot' });
    request(`${nodeUrl}/v1/auth/passcode`, { method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(text) as { token: string }).token) : reject(new Error(`login answered ${res.statusCode}`))));
    }).on('error', reject).end(body);
  });
}

/** A configured cluster: the passcode set (in force on every node), the DeployR exports imported, one token per node. */
interface Nodes { label: string; cluster: Cluster; db: BenchDatabase; ca: string; tokens: string[] }

async function startNodes(size: number, db: BenchDatabase): Promise<Nodes> {
  const cluster = await startCluster({ size, databaseUrl: db.url, env: { DEPLOYR_LOG_LEVEL: 'warn' } });
  try {
    const out = await admin(cluster, ['configure', 'security', '--passcode'], `${PASSCODE}\n${PASSCODE}\n`);
    const revision = Number(/revision (\d+)/.exec(out)?.[1]);
    for (const node of cluster.nodes) await waitFor(async () => (await appliedRevision(node.localPort)) >= revision, 10_000, `revision ${revision} on every node`);
    const exports = readdirSync(EXPORTS_DIR).filter((f) => f.startsWith('task-sequence-')).map((f) => join(EXPORTS_DIR, f));
    await admin(cluster, ['ts', 'import', ...exports]);
    const ca = readFileSync(cluster.nodes[0]?.caFile as string, 'utf8');
    // One login per node before the storm: each node's first right passcode pays argon2 once (see verified-passcode-cache.ts).
    const tokens = await Promise.all(cluster.nodes.map((n) => loginOnce(n.url, ca)));
    return { label: `${size} node${size > 1 ? 's' : ''}, ${db.label}`, cluster, db, ca, tokens };
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

async function stopNodes(nodes: Nodes | null): Promise<void> {
  if (!nodes) return;
  await nodes.cluster.close();
  await nodes.db.drop();
}

/** One storm's figures. */
interface StormResult {
  configuration: string;
  clients: number;
  succeeded: number;
  allInMs: number;
  p50Ms: number;
  p99Ms: number;
  byNode: number[];
  retried429: number;
  connectionErrors: number;
  clientsWithConnectionErrors: number;
  /** Clients by the code of their last connection error. */
  connectionErrorCodes: Record<string, number>;
  failedStatuses: Record<string, number>;
  resumedSessions: number;
  nodesCpuMs: number;
  nodesCpuMsPerLogin: number;
  postgresCpuMs: number;
  clientsCpuMs: number;
  attackerCpuMs: number;
  machineBusyPct: number;
  /** The whole attack (lead-in, storm, drain). */
  attack: AttackReport;
  /** Guesses sent while the storm ran, and their rate. */
  attackDuringStorm: { sent: number; ratePerSecond: number; statuses: Record<string, number> };
}

/** The boot storm: CLIENTS machines log in at once, spread evenly over the nodes, while the attacker guesses at ATTACK_RATE a second. */
async function storm(nodes: Nodes, firstOctet: number): Promise<StormResult> {
  const urls = nodes.cluster.nodes.map((n) => n.url).join(',');
  const caFile = nodes.cluster.nodes[0]?.caFile as string;
  // BENCH_ATTACK_RATE=0: no attacker (the storm alone).
  const attacker = ATTACK_RATE > 0 ? await startHelper<string>('attacker.js', [urls, String(ATTACK_OUTSTANDING), ATTACK_ADDRESSES, String(ATTACK_RATE)]) : null;
  if (attacker) await new Promise((r) => setTimeout(r, ATTACK_LEAD_MS)); // let the attack get going (and get throttled)
  const shares = await Promise.all(Array.from({ length: CLIENT_PROCESSES }, (_, k) => startHelper<string>('storm-clients.js', [
    urls, caFile, PASSCODE, String(firstOctet), String(Math.floor((k * CLIENTS) / CLIENT_PROCESSES)), String(Math.floor(((k + 1) * CLIENTS) / CLIENT_PROCESSES)), String(MAX_CONNECTING),
  ])));
  const reports = shares.map((share) => nextMessage<StormReport>(share.child));
  const pids = nodes.cluster.nodes.map((n) => n.child.pid as number);
  const nodesCpu = (): number => pids.reduce((n, pid) => n + cpuMs(pid), 0);
  const attackerCpu = (): number => (attacker ? cpuMs(attacker.child.pid as number) : 0);
  const [nodesBefore, pgBefore, attackerBefore, ticksBefore] = [nodesCpu(), cpuMsByName('postgres'), attackerCpu(), machineTicks()];
  const mark = async (): Promise<AttackReport> => {
    if (!attacker) return { sent: 0, statuses: {}, succeeded: 0 };
    const answer = nextMessage<{ mark: AttackReport }>(attacker.child);
    attacker.child.send('mark');
    return (await answer).mark;
  };
  const atGo = await mark();
  const started = performance.now();
  for (const share of shares) share.child.send('go');
  const done = await Promise.all(reports);
  const allInMs = performance.now() - started;
  const [nodesAfter, pgAfter, attackerAfter, ticksAfter] = [nodesCpu(), cpuMsByName('postgres'), attackerCpu(), machineTicks()];
  const atDone = await mark();
  attacker?.child.send('stop');
  const attack: AttackReport = attacker ? await nextMessage<AttackReport>(attacker.child) : { sent: 0, statuses: {}, succeeded: 0 };
  const results = done.flatMap((r) => r.logins);
  const ok = results.filter((r) => r.status === 200);
  const latencies = ok.map((r) => r.ms).sort((a, b) => a - b);
  const failures = done.map((r) => r.firstFailure).filter((f): f is string => f !== undefined);
  if (failures.length > 0) console.log(`  first refused logins (${nodes.label}): ${[...new Set(failures)].join(' | ')}`);
  const failedStatuses: Record<string, number> = {};
  for (const r of results) if (r.status !== 200) { const k = r.status === 0 ? `error ${r.lastError ?? ''}`.trim() : String(r.status); failedStatuses[k] = (failedStatuses[k] ?? 0) + 1; }
  const nodesCpuMs = nodesAfter - nodesBefore;
  return {
    configuration: nodes.label, clients: CLIENTS, succeeded: ok.length, allInMs: Math.round(allInMs),
    p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)),
    byNode: nodes.cluster.nodes.map((_, i) => ok.filter((r) => r.node === i).length),
    retried429: results.filter((r) => r.throttledRetries > 0).length,
    connectionErrors: results.reduce((n, r) => n + r.connectionErrors, 0), clientsWithConnectionErrors: results.filter((r) => r.connectionErrors > 0).length,
    connectionErrorCodes: results.reduce<Record<string, number>>((m, r) => (r.lastError ? { ...m, [r.lastError]: (m[r.lastError] ?? 0) + 1 } : m), {}),
    failedStatuses, resumedSessions: results.filter((r) => r.resumed).length,
    nodesCpuMs, nodesCpuMsPerLogin: Number((nodesCpuMs / Math.max(1, ok.length)).toFixed(2)), postgresCpuMs: pgAfter - pgBefore,
    clientsCpuMs: done.reduce((n, r) => n + r.cpuMs, 0), attackerCpuMs: attackerAfter - attackerBefore,
    machineBusyPct: Math.round((100 * (ticksAfter.busy - ticksBefore.busy)) / Math.max(1, ticksAfter.total - ticksBefore.total)),
    attack,
    attackDuringStorm: {
      sent: atDone.sent - atGo.sent, ratePerSecond: Math.round((atDone.sent - atGo.sent) / (allInMs / 1000)),
      statuses: Object.fromEntries(Object.entries(atDone.statuses).map(([k, v]) => [k, v - (atGo.statuses[k] ?? 0)])),
    },
  };
}

/** Protected reads (`GET /v1/task-sequences` with a token) on node A against node B, alternating rounds of 2 s; the median of the round ratios A/B. */
async function protectedReads(a: Nodes, b: Nodes): Promise<Record<string, unknown> & { ratio: number }> {
  const target = (n: Nodes): { url: string; pid: number; headers: Record<string, string> } => ({
    url: `${n.cluster.nodes[0]?.url as string}/v1/task-sequences`, pid: n.cluster.nodes[0]?.child.pid as number, headers: { authorization: `Bearer ${n.tokens[0] as string}` },
  });
  const [ta, tb] = [target(a), target(b)];
  const measure = async (t: typeof ta): Promise<{ rps: number; cpuUsPerRequest: number; non2xx: number; errors: number }> => {
    const before = cpuMs(t.pid);
    const r = await autocannon({ url: t.url, connections: 10, duration: 2, headers: t.headers });
    return { rps: r.requests.average, cpuUsPerRequest: ((cpuMs(t.pid) - before) * 1000) / Math.max(1, r.requests.total), non2xx: r.non2xx, errors: r.errors };
  };
  await measure(ta); // warm-up both
  await measure(tb);
  const rounds: { a: Awaited<ReturnType<typeof measure>>; b: Awaited<ReturnType<typeof measure>> }[] = [];
  for (let i = 0; i < READ_ROUNDS; i++) {
    // Alternate which goes first, so neither always follows the other.
    if (i % 2 === 0) { const x = await measure(ta); rounds.push({ a: x, b: await measure(tb) }); }
    else { const y = await measure(tb); rounds.push({ a: await measure(ta), b: y }); }
  }
  return {
    measured: `${a.label} / ${b.label}`,
    rpsA: Math.round(median(rounds.map((r) => r.a.rps))), rpsB: Math.round(median(rounds.map((r) => r.b.rps))),
    ratio: Number(median(rounds.map((r) => r.a.rps / r.b.rps)).toFixed(2)),
    roundRatios: rounds.map((r) => Number((r.a.rps / r.b.rps).toFixed(2))),
    cpuUsPerRequestA: Math.round(median(rounds.map((r) => r.a.cpuUsPerRequest))), cpuUsPerRequestB: Math.round(median(rounds.map((r) => r.b.cpuUsPerRequest))),
    non2xx: rounds.reduce((n, r) => n + r.a.non2xx + r.b.non2xx, 0), errors: rounds.reduce((n, r) => n + r.a.errors + r.b.errors, 0),
  };
}

const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');

/** Runs the benchmark and prints the figures (and the lines for docs/performance.md). */
export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-bench-scale-'));
  const running: (Nodes | null)[] = [];
  const storms: StormResult[] = [];
  let octet = 10;
  const stormOn = async (nodes: Nodes): Promise<void> => {
    for (let i = 0; i < STORMS; i++) {
      const r = await storm(nodes, octet);
      octet += 10;
      storms.push(r);
      console.log(`storm (${r.configuration}):`, JSON.stringify(r));
    }
  };
  // Stopped with Ctrl-C or SIGTERM: the finally below still stops every process and drops every schema.
  let interrupted: () => void = () => undefined;
  const stop = new Promise<never>((_, reject) => { interrupted = () => reject(new Error('interrupted')); });
  stop.catch(() => undefined);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await Promise.race([stop, body()]);
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    killHelpers();
    for (const nodes of running) await stopNodes(nodes).catch(() => undefined);
    for (const schema of [...schemas]) await dropSchema(schema).catch((err: Error) => console.error(`could not drop schema ${schema}: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
  }

  async function body(): Promise<void> {
    console.log(`${CLIENTS} clients in ${CLIENT_PROCESSES} processes (BENCH_CLIENT_PROCESSES), ${MAX_CONNECTING || 'no'} bound on logins in flight per process (BENCH_MAX_CONNECTING), `
      + `attacker ${ATTACK_RATE}/s (BENCH_ATTACK_RATE) from ${ATTACK_ADDRESSES}; shared database: ${DATABASE} (BENCH_DATABASE)`);
    // 1 node on SQLite (the baseline) and 1 node on the shared database: reads compared, then a storm on each.
    const sqliteOne = await startNodes(1, await freshDatabase('sqlite', dir));
    running.push(sqliteOne);
    const sharedOne = await startNodes(1, await freshDatabase(DATABASE, dir, 'shared SQLite file'));
    running.push(sharedOne);
    const reads = await protectedReads(sharedOne, sqliteOne);
    console.log('protected reads:', JSON.stringify(reads));
    await stormOn(sqliteOne);
    await stormOn(sharedOne);
    await stopNodes(running.shift() ?? null);
    await stopNodes(running.shift() ?? null);
    // 3 nodes on the shared database.
    const sharedThree = await startNodes(3, await freshDatabase(DATABASE, dir, 'shared SQLite file'));
    running.push(sharedThree);
    await stormOn(sharedThree);
    await stopNodes(running.shift() ?? null);

    const pick = (label: string): StormResult[] => storms.filter((s) => s.configuration === label);
    const best = (label: string): StormResult | undefined => pick(label).sort((x, y) => x.allInMs - y.allInMs)[0];
    const [s1, p1, p3] = [best(sqliteOne.label), best(sharedOne.label), best(sharedThree.label)];
    const wrongIn = storms.reduce((n, s) => n + s.attack.succeeded, 0);
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    if (s1 && p1 && p3) {
      console.log(`all in: ${p3.configuration} ${p3.allInMs} ms; ${p1.configuration} ${p1.allInMs} ms; ${s1.configuration} ${s1.allInMs} ms`);
      console.log(`ratios: 3 nodes / 1 node (${DATABASE}) = ${(p3.allInMs / p1.allInMs).toFixed(2)}× the time, ${(p3.nodesCpuMsPerLogin / p1.nodesCpuMsPerLogin).toFixed(2)}× the nodes' CPU per login; `
        + `1 node ${DATABASE} / 1 node SQLite = ${(p1.allInMs / s1.allInMs).toFixed(2)}× the time, ${(p1.nodesCpuMsPerLogin / s1.nodesCpuMsPerLogin).toFixed(2)}× the nodes' CPU per login`);
      console.log(`targets: all ${CLIENTS} tokens on 3 nodes (${DATABASE}) in ≤ ${TARGET_ALL_IN_MS} ms${ATTACK_RATE > 0 ? ' under attack' : ' (no attacker: BENCH_ATTACK_RATE=0)'} (${met(p3.succeeded === CLIENTS && p3.allInMs <= TARGET_ALL_IN_MS)}: ${p3.succeeded} in ${p3.allInMs} ms), `
        + `0 wrong guesses succeeded (${met(wrongIn === 0)}: ${wrongIn}), reads ${DATABASE}/SQLite ${reads.ratio}× (no target)`);
    }
  }
}
