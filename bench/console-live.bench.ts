// Benchmark: many simulated runs reporting a step each second while dashboards follow the live run feed: report latency, event delay, service RSS.

import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { DashboardReport } from './helpers/dashboards.js';
import { runDeployr, setPasscode, startService, tempHome } from '../test/helpers/deployr-process.js';
import { signIn } from '../test/helpers/admin-session.js';
import { step, taskSequence } from '../test/helpers/task-sequence-json.js';

/** Simulated runs (BENCH_RUNS_LIVE, default 2000), dashboards (BENCH_DASHBOARDS, 20), seconds measured (BENCH_SECONDS, 30). */
const RUNS = Number(process.env.BENCH_RUNS_LIVE ?? 2000);
const DASHBOARDS = Number(process.env.BENCH_DASHBOARDS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const PASSCODE = 'Live-Harbour-Dashboard-77';
const PASSWORD = 'Copper-Harbour-Kettle-58';

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Runs the benchmark and prints the figures. */
export async function run(): Promise<void> {
  const { home, cleanup } = tempHome('deployr-bench-live-');
  if ((await setPasscode(home, PASSCODE)).code !== 0) throw new Error('could not set the passcode');
  if ((await runDeployr(['admin', 'add', 'bench', '--role', 'viewer'], { home, input: `${PASSWORD}\n${PASSWORD}\n` })).code !== 0) throw new Error('could not add the administrator');
  const ts = taskSequence('Bench', [step('Only', '00000002-0000-0000-0000-000000000001', { CommandLine: 'true' })]);
  const service = await startService({ home, env: { DEPLOYR_LOG_LEVEL: 'warn' } });
  const ca = readFileSync(service.caFile, 'utf8');
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca, servername: 'localhost' });
  const call = (method: string, path: string, body: unknown, token: string): Promise<{ status: number; text: string }> => new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(`${service.url}${path}`, { method, agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
  try {
    const admin = await signIn(service.url, 'bench', PASSWORD);
    const tsFile = `${home}/bench-ts.json`;
    (await import('node:fs')).writeFileSync(tsFile, JSON.stringify(ts));
    if ((await runDeployr(['ts', 'import', tsFile], { home })).code !== 0) throw new Error('could not import');
    const login = await call('POST', '/v1/auth/passcode', { passcode: PASSCODE, context: 'fullos' }, '');
    const token = (JSON.parse(login.text) as { token: string }).token;
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, RUNS - i) }, (_, j) => call('POST', '/v1/runs', { taskSequenceId: ts.id, versionNo: 1, deviceId: `bench-${i + j}`, stepsTotal: 1000 }, token)));
      for (const r of batch) runIds.push((JSON.parse(r.text) as { id: string }).id);
    }

    // The dashboards, in their own process (so that parsing ~40,000 events a second does not slow the
    // load generator): each holds the live feed open and times each (run, step) event against the send
    // time carried in the step's name.
    const dashboards = fork(fileURLToPath(new URL('./helpers/dashboards.js', import.meta.url)), [service.url, service.caFile, admin.cookie, String(DASHBOARDS)]);
    await new Promise<void>((resolve, reject) => {
      dashboards.once('message', () => resolve());
      dashboards.once('exit', (code) => reject(new Error(`the dashboards process ended (${code})`)));
    });

    // Every run reports one step a second: each tick sends the reports that are due by now, so the asked
    // rate is kept even when a tick comes late (an open loop: a slow answer never slows the next report).
    const latencies: number[] = [];
    let failures = 0;
    let rssMax = 0;
    const started = Date.now();
    let sentCount = 0;
    let next = 0;
    let stepNo = 0;
    const inFlight = new Set<Promise<void>>();
    while (Date.now() - started < SECONDS * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * RUNS);
      for (; sentCount < due; sentCount += 1) {
        const id = runIds[next] as string;
        next = (next + 1) % runIds.length;
        if (next === 0) stepNo += 1;
        const t0 = Date.now();
        const p = call('POST', `/v1/runs/${id}/steps`, { key: randomUUID(), stepId: randomUUID(), name: `step ${stepNo} @${t0}`, status: 'running' }, token)
          .then((r) => { if (r.status !== 200) failures += 1; latencies.push(Date.now() - t0); }, () => { failures += 1; })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      rssMax = Math.max(rssMax, rssMb(service.child.pid as number));
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inFlight);
    await new Promise((r) => setTimeout(r, 2000));
    const feed = await new Promise<DashboardReport>((resolve) => {
      dashboards.on('message', (m: { type: string; report?: DashboardReport }) => { if (m.type === 'report' && m.report) resolve(m.report); });
      dashboards.send({ type: 'stop' });
    });
    const reports = latencies.length;
    console.log(`runs ${RUNS}, dashboards ${DASHBOARDS}, ${SECONDS} s: ${sentCount} step reports sent (${(sentCount / SECONDS).toFixed(0)}/s asked ${RUNS}/s), ${reports} answered, ${failures} failed; ${feed.events} events received; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`report latency p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
    console.log(`event delay to the dashboard p50 ${feed.p50} ms, p99 ${feed.p99} ms, max ${feed.max} ms (${feed.matched} matched)`);
    console.log(`service RSS max ${rssMax.toFixed(0)} MB`);
  } finally {
    agent.destroy();
    await service.stop();
    cleanup();
  }
}
