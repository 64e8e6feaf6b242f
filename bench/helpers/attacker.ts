// Benchmark helper process: sends wrong passcodes to the service as fast as it can and reports what it got back.

import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';

/** What the attacker saw, printed as one JSON line when it stops. */
export interface AttackReport {
  sent: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Wrong passcodes that got a token (must be 0). */
  succeeded: number;
}

const [url, concurrencyText, addressesText] = process.argv.slice(2);
if (!url) throw new Error('usage: attacker.js URL [CONCURRENCY] [ADDRESS,...]');
const concurrency = Number(concurrencyText ?? 16);
const addresses = (addressesText ?? '127.0.0.2').split(',');
const report: AttackReport = { sent: 0, statuses: {}, succeeded: 0 };
let running = true;

/** One keep-alive connection per worker and address, so the attacker pays no handshake per guess. */
const agents = addresses.map((address) => new Agent({ keepAlive: true, maxSockets: concurrency, localAddress: address, rejectUnauthorized: false }));

function guess(agent: Agent): Promise<void> {
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
    req.on('error', () => { report.statuses.error = (report.statuses.error ?? 0) + 1; resolve(); });
    report.sent += 1;
    req.end(body);
  });
}

async function worker(i: number): Promise<void> {
  const agent = agents[i % agents.length] as Agent;
  while (running) await guess(agent);
}

process.on('message', (m) => {
  if (m === 'stop') running = false;
});
process.send?.('ready');
await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
process.send?.(report);
for (const a of agents) a.destroy();
process.disconnect?.();
