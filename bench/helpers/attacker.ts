// Benchmark helper process: sends wrong passcodes to the service (as fast as it can, or at a set rate) and reports what it got back.

import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';

/** What the attacker saw, printed as one JSON line when it stops. */
export interface AttackReport {
  sent: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Wrong passcodes that got a token (must be 0). */
  succeeded: number;
  /** Seconds from the first guess to the stop (0 when unknown). */
  seconds?: number;
  /** TLS connections opened (kept alive, so far fewer than guesses unless the service closes them). */
  connections?: number;
  /** Guesses the rate asked for but not sent because CONCURRENCY answers were still outstanding (rate mode only). */
  skipped?: number;
}

/**
 * Arguments: URL[,URL…] [CONCURRENCY] [ADDRESS,…] [RATE]. (The service holds a throttled answer up to
 * 1 s, so RATE a second needs about RATE outstanding guesses: CONCURRENCY must allow that.) Without RATE (or 0), CONCURRENCY workers
 * each send the next guess the moment an answer arrives. With RATE, guesses leave at RATE a second in
 * all, spread round-robin over the URLs (nodes) and the addresses, with at most CONCURRENCY outstanding.
 */
const [urlsText, concurrencyText, addressesText, rateText] = process.argv.slice(2);
if (!urlsText) throw new Error('usage: attacker.js URL[,URL…] [CONCURRENCY] [ADDRESS,…] [RATE]');
const urls = urlsText.split(',');
const concurrency = Number(concurrencyText ?? 16);
const addresses = (addressesText ?? '127.0.0.2').split(',');
const rate = Number(rateText ?? 0);
const report: AttackReport = { sent: 0, statuses: {}, succeeded: 0, connections: 0 };
const seen = new WeakSet<object>();
let running = true;

/** One keep-alive connection per worker and address, so the attacker pays no handshake per guess. */
const agents = addresses.map((address) => new Agent({ keepAlive: true, maxSockets: concurrency, localAddress: address, rejectUnauthorized: false }));

function guess(agent: Agent, url: string): Promise<void> {
  const body = JSON.stringify({ passcode: `wrong-${randomBytes(9).toString('base64url')}`, context: 'boot', deviceId: `atk-${randomBytes(4).toString('hex')}` });
  return new Promise((resolve) => {
    const req = request(`${url}/v1/auth/passcode`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        report.statuses[String(res.statusCode)] = (report.statuses[String(res.statusCode)] ?? 0) + 1;
        if (res.statusCode === 200) report.succeeded += 1;
        resolve();
      });
    });
    req.on('socket', (socket) => { if (!seen.has(socket)) { seen.add(socket); report.connections = (report.connections ?? 0) + 1; } });
    req.on('error', () => { report.statuses.error = (report.statuses.error ?? 0) + 1; resolve(); });
    report.sent += 1;
    req.end(body);
  });
}

async function worker(i: number): Promise<void> {
  const agent = agents[i % agents.length] as Agent;
  const url = urls[i % urls.length] as string;
  while (running) await guess(agent, url);
}

/** Rate mode: every 10 ms, send the guesses due since the start, round-robin over nodes and addresses. */
async function paced(): Promise<void> {
  const started = performance.now();
  let due = 0;
  let n = 0;
  let outstanding = 0;
  const pending = new Set<Promise<void>>();
  report.skipped = 0;
  while (running) {
    const target = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; due < target; due++) {
      if (outstanding >= concurrency) { report.skipped += 1; continue; }
      const k = n++;
      outstanding += 1;
      const p = guess(agents[k % agents.length] as Agent, urls[k % urls.length] as string).finally(() => { outstanding -= 1; pending.delete(p); });
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
}

// 'mark': answers at once with the counts so far (the benchmark marks the start and end of a storm); 'stop': stops and reports.
process.on('message', (m) => {
  if (m === 'stop') running = false;
  if (m === 'mark') process.send?.({ mark: { ...report, statuses: { ...report.statuses } } });
});
process.send?.('ready');
const attackStarted = performance.now();
await (rate > 0 ? paced() : Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i))));
report.seconds = Number(((performance.now() - attackStarted) / 1000).toFixed(2));
process.send?.(report);
for (const a of agents) a.destroy();
process.disconnect?.();
