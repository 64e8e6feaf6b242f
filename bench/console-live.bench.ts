// Benchmark: many simulated runs reporting a step each second while dashboards follow the live run feed: report latency, event delay, service RSS.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
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

    // The dashboards: each holds the live feed open and notes when each (run, step) arrives.
    const sent = new Map<string, number>();
    const delays: number[] = [];
    const streams: { destroy(): void }[] = [];
    let events = 0;
    await Promise.all(Array.from({ length: DASHBOARDS }, () => new Promise<void>((resolve, reject) => {
      const req = request(`${service.url}/v1/admin/runs/events`, { ca, servername: 'localhost', agent: false, headers: { cookie: admin.cookie } }, (res) => {
        let buffer = '';
        res.on('data', (d: Buffer) => {
          buffer += d.toString('utf8');
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (!data) continue;
            const run = JSON.parse(data) as { id: string; currentStep: string | null };
            const at = sent.get(`${run.id}|${run.currentStep ?? ''}`);
            events += 1;
            if (at !== undefined) delays.push(Date.now() - at);
          }
        });
        resolve();
      });
      req.on('error', reject);
      req.end();
      streams.push(req);
    })));

    // Every run reports one step a second, spread evenly over the second.
    const latencies: number[] = [];
    let failures = 0;
    let rssMax = 0;
    const started = Date.now();
    const tick = 20;
    const perTick = Math.ceil(RUNS / (1000 / tick));
    let next = 0;
    let stepNo = 0;
    const inFlight = new Set<Promise<void>>();
    while (Date.now() - started < SECONDS * 1000) {
      for (let k = 0; k < perTick; k += 1) {
        const id = runIds[next] as string;
        next = (next + 1) % runIds.length;
        if (next === 0) stepNo += 1;
        const name = `step ${stepNo}`;
        const t0 = Date.now();
        sent.set(`${id}|${name}`, t0);
        const p = call('POST', `/v1/runs/${id}/steps`, { key: randomUUID(), stepId: randomUUID(), name, status: 'running' }, token)
          .then((r) => { if (r.status !== 200) failures += 1; latencies.push(Date.now() - t0); }, () => { failures += 1; })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      rssMax = Math.max(rssMax, rssMb(service.child.pid as number));
      await new Promise((r) => setTimeout(r, tick));
    }
    await Promise.all(inFlight);
    await new Promise((r) => setTimeout(r, 2000));
    for (const s of streams) s.destroy();
    const reports = latencies.length;
    console.log(`runs ${RUNS}, dashboards ${DASHBOARDS}, ${SECONDS} s: ${reports} step reports (${(reports / SECONDS).toFixed(0)}/s, ${failures} failed), ${events} events received`);
    console.log(`report latency p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
    console.log(`event delay to the dashboard p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms (${delays.length} matched)`);
    console.log(`service RSS max ${rssMax.toFixed(0)} MB`);
  } finally {
    agent.destroy();
    await service.stop();
    cleanup();
  }
}
