// Benchmark: a boot storm of passcode logins under a wrong-passcode flood, and token-protected reads against a bare route.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { EXPORTS_DIR, runDeployr, setPasscode, startService, tempHome } from '../test/helpers/deployr-process.js';
import type { AttackReport } from './helpers/attacker.js';
import { cpuMs, median, percentile, startHelper } from './helpers/bench-kit.js';
import type { StormReport } from './helpers/storm-clients.js';

const PASSCODE = 'Storm-Lantern-Harbour-42';
const CLIENTS = 500;
/** Kept-alive connections the attacker floods over (it sends its next guess the moment an answer arrives). */
const ATTACK_CONNECTIONS = 128;
/** `deployr serve --workers` for the measured service: BENCH_WORKERS, default 1 (one process). */
const WORKERS = process.env.BENCH_WORKERS ?? '1';
/**
 * Processes the 500 clients are spread over: BENCH_CLIENT_PROCESSES, default 2. In one process the
 * clients' own TLS and HTTP work (about 3 ms of CPU per login) bounded the storm, not the service.
 */
const CLIENT_PROCESSES = Math.max(1, Number(process.env.BENCH_CLIENT_PROCESSES ?? 2));

/** The part of autocannon's API used here. */
type Autocannon = (opts: { url: string; connections: number; duration: number; headers?: Record<string, string> }) => Promise<{ requests: { average: number; total: number }; non2xx: number; errors: number; latency: { p50: number; p99: number } }>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function fetchJson(url: string, token: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { ca, servername: 'localhost', headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    }).on('error', reject).end();
  });
}

/** Runs the benchmark and prints the figures (and the lines for docs/performance.md). */
export async function run(): Promise<void> {
  const { home, cleanup } = tempHome('deployr-bench-');
  const service = { current: null as Awaited<ReturnType<typeof startService>> | null };
  try {
    if ((await setPasscode(home, PASSCODE)).code !== 0) throw new Error('could not set the passcode');
    const exports = readdirSync(EXPORTS_DIR).filter((f) => f.startsWith('task-sequence-')).map((f) => join(EXPORTS_DIR, f));
    if ((await runDeployr(['ts', 'import', ...exports], { home })).code !== 0) throw new Error('could not import the task sequences');
    console.log(`deployr serve --workers ${WORKERS} (BENCH_WORKERS); the storm's clients in ${CLIENT_PROCESSES} processes (BENCH_CLIENT_PROCESSES)`);
    const svc = await startService({ home, env: { DEPLOYR_LOG_LEVEL: 'warn' }, args: ['--workers', WORKERS] });
    service.current = svc;
    const ca = readFileSync(svc.caFile, 'utf8');

    /** One boot storm: 500 clients log in at once from their own addresses, optionally while an attacker floods wrong passcodes. */
    const storm = async (firstOctet: number, attacked: boolean): Promise<Record<string, unknown> & { allInMs: number; succeeded: number; wrongGuessesSucceeded: number }> => {
      const attacker = attacked ? await startHelper<string>('attacker.js', [svc.url, String(ATTACK_CONNECTIONS), '127.0.0.2']) : null;
      if (attacker) await new Promise((r) => setTimeout(r, 500)); // let the flood get going (and get throttled)
      const shares = await Promise.all(Array.from({ length: CLIENT_PROCESSES }, (_, k) => startHelper<string>('storm-clients.js', [
        svc.url, svc.caFile, PASSCODE, String(firstOctet), String(Math.floor((k * CLIENTS) / CLIENT_PROCESSES)), String(Math.floor(((k + 1) * CLIENTS) / CLIENT_PROCESSES)),
      ])));
      const reports = shares.map((share) => new Promise<StormReport>((resolve) => share.child.once('message', (m) => resolve(m as StormReport))));
      const serverCpuBefore = cpuMs(svc.child.pid as number);
      const started = performance.now();
      for (const share of shares) share.child.send('go');
      const done = await Promise.all(reports);
      const allInMs = performance.now() - started;
      const serverCpuMs = cpuMs(svc.child.pid as number) - serverCpuBefore;
      const results = done.flatMap((r) => r.logins);
      // The clients' CPU (500 machines in reality) shares this machine with the service.
      const clientsCpuMs = done.reduce((n, r) => n + r.cpuMs, 0);
      let attack: AttackReport = { sent: 0, statuses: {}, succeeded: 0 };
      if (attacker) {
        attacker.child.send('stop');
        attack = await new Promise<AttackReport>((resolve) => attacker.child.once('message', (m) => resolve(m as AttackReport)));
      }
      const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
      return {
        clients: CLIENTS, succeeded: results.filter((r) => r.status === 200).length, allInMs: Math.round(allInMs), serverCpuMs, clientsCpuMs,
        p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), retried: results.filter((r) => r.tries > 1).length, resumedSessions: results.filter((r) => r.resumed).length,
        ...(attacked ? { attackerConnections: ATTACK_CONNECTIONS, attackerRequests: attack.sent, attackerStatuses: attack.statuses } : {}), wrongGuessesSucceeded: attack.succeeded,
      };
    };
    // 2. Protected reads against a bare route returning the same JSON, measured on the fresh service
    // (before the storms) and again after them: a process that has just served a thousand
    // concurrent logins answers reads more slowly (see docs/performance.md).
    const token = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ passcode: PASSCODE, context: 'boot' });
      request(`${svc.url}/v1/auth/passcode`, { method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(text) as { token: string }).token) : reject(new Error(text))));
      }).on('error', reject).end(body);
    });
    const json = await fetchJson(`${svc.url}/v1/task-sequences`, token, ca);
    const bodyFile = join(home, 'bare-body.json');
    writeFileSync(bodyFile, json);
    const cannon = (url: string, headers?: Record<string, string>) => autocannon({ url, connections: 10, duration: 2, ...(headers ? { headers } : {}) });
    const protectedUrl = `${svc.url}/v1/task-sequences`;
    const authorization = { authorization: `Bearer ${token}` };
    // The machine is shared, so the two alternate in short rounds and the median of the round ratios
    // counts; the server CPU spent per request (from /proc) is the steadier second view.
    const measure = async (url: string, pid: number, headers?: Record<string, string>): Promise<{ rps: number; cpuUsPerRequest: number; non2xx: number }> => {
      const before = cpuMs(pid);
      const r = await cannon(url, headers);
      return { rps: r.requests.average, cpuUsPerRequest: ((cpuMs(pid) - before) * 1000) / Math.max(1, r.requests.total), non2xx: r.non2xx };
    };
    /** Six rounds against a freshly started bare server, alternating with the service. */
    const protectedReads = async (): Promise<{ ratio: number } & Record<string, unknown>> => {
      const bare = await startHelper<{ port: number }>('bare-server.js', [svc.caFile, join(home, 'tls', 'server.key'), bodyFile]);
      const bareUrl = `https://127.0.0.1:${bare.first.port}/v1/task-sequences`;
      await cannon(bareUrl); // warm-up both
      await cannon(protectedUrl, authorization);
      const rounds: { bare: Awaited<ReturnType<typeof measure>>; prot: Awaited<ReturnType<typeof measure>> }[] = [];
      for (let i = 0; i < 6; i++) {
        const b = await measure(bareUrl, bare.child.pid as number);
        const p = await measure(protectedUrl, svc.child.pid as number, authorization);
        rounds.push({ bare: b, prot: p });
      }
      bare.child.send('stop');
      return {
        responseBytes: Buffer.byteLength(json),
        bareRps: Math.round(median(rounds.map((r) => r.bare.rps))), protectedRps: Math.round(median(rounds.map((r) => r.prot.rps))),
        ratio: Number(median(rounds.map((r) => r.prot.rps / r.bare.rps)).toFixed(2)),
        roundRatios: rounds.map((r) => Number((r.prot.rps / r.bare.rps).toFixed(2))),
        bareServerCpuUsPerRequest: Math.round(median(rounds.map((r) => r.bare.cpuUsPerRequest))),
        protectedServerCpuUsPerRequest: Math.round(median(rounds.map((r) => r.prot.cpuUsPerRequest))),
        non2xx: rounds.reduce((n, r) => n + r.bare.non2xx + r.prot.non2xx, 0),
      };
    };
    const freshReads = await protectedReads();
    console.log('protected reads vs bare route, fresh service:', JSON.stringify(freshReads));

    // 3. Boot storm: first without an attacker (the baseline), then under a wrong-passcode flood; then the reads again.
    const baseline = await storm(10, false);
    console.log('boot storm, no attacker:', JSON.stringify(baseline));
    const attackedStorm = await storm(20, true);
    console.log('boot storm under attack:', JSON.stringify(attackedStorm));
    const ok = attackedStorm.succeeded;
    const attack = { succeeded: attackedStorm.wrongGuessesSucceeded };

    const readsAfter = await protectedReads();
    console.log('protected reads vs bare route, after the storms:', JSON.stringify(readsAfter));
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
    console.log(`targets: all ${CLIENTS} in ≤ 2000 ms under attack (${attackedStorm.allInMs <= 2000 && ok === CLIENTS ? 'met' : 'NOT met'}), 0 wrong guesses succeeded (${attack.succeeded === 0 ? 'met' : 'NOT met'}), protected reads ≥ 0.8× bare (fresh service: ${freshReads.ratio >= 0.8 ? 'met' : 'NOT met'}; after the storms: ${readsAfter.ratio >= 0.8 ? 'met' : 'NOT met'})`);
  } finally {
    await service.current?.stop();
    cleanup();
  }
}
