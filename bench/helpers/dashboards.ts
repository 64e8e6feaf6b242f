// Benchmark helper process: D dashboards holding the live run feed open; each event's delay is read from the send time the step name carries.

import { readFileSync } from 'node:fs';
import { request } from 'node:https';

/** What the process reports when told to stop. */
export interface DashboardReport {
  events: number;
  matched: number;
  p50: number;
  p99: number;
  max: number;
}

const [url, caFile, cookie, countText] = process.argv.slice(2);
if (!url || !caFile || !cookie || !countText) throw new Error('usage: dashboards.js URL CA_FILE COOKIE COUNT');
const ca = readFileSync(caFile, 'utf8');
const delays: number[] = [];
let events = 0;
const streams: { destroy(): void }[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

await Promise.all(Array.from({ length: Number(countText) }, () => new Promise<void>((resolve, reject) => {
  const req = request(`${url}/v1/admin/runs/events`, { ca, servername: 'localhost', agent: false, headers: { cookie } }, (res) => {
    let buffer = '';
    res.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        // The step name ends with "@<ms since the epoch>" when the report was sent: no JSON parse needed per event.
        const sentAt = /"currentStep":"[^"]*@(\d+)"/.exec(block)?.[1];
        if (!block.includes('\ndata: ') && !block.startsWith('data: ')) continue;
        events += 1;
        if (sentAt) delays.push(Date.now() - Number(sentAt));
      }
    });
    resolve();
  });
  req.on('error', reject);
  req.end();
  streams.push(req);
})));
process.send?.({ type: 'ready' });
process.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return;
  for (const s of streams) s.destroy();
  const sorted = delays.sort((a, b) => a - b);
  const report: DashboardReport = { events, matched: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
  process.send?.({ type: 'report', report }, () => process.exit(0));
});
