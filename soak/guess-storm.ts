// The soak's storm phase: wrong guesses from many loopback addresses while a technician with the right passcode signs in from another; none succeeds, the technician always gets in, the throttle counts as docs/security.md says.

import { deployr, startSoakService, stopCleanly } from './cli.js';
import { loginBody, soakRequest } from './https.js';
import { seededRandom } from './random.js';

/** The storm phase's figures. */
export interface StormPhaseResult {
  guesses: number;
  addresses: number;
  guessStatuses: Record<string, number>;
  succeeded: number;
  technicianLogins: number;
  technicianFailures: number;
  /** 429 answers the technician got (the argon2 queue was full) and retried after Retry-After. */
  technicianBusy: number;
  /** Milliseconds from the technician's first try to the token (429 retries included). */
  technicianP50Ms: number;
  technicianP95Ms: number;
  technicianMaxMs: number;
  technicianOver1s: number;
  /** Whether the consecutive-failure alert was raised during the storm (audit rows) and cleared after it. */
  alertsRaised: number;
  alertsCleared: number;
  broken: string[];
  durationMs: number;
}

/** Options of the storm phase. */
export interface StormPhaseOptions {
  guesses: number;
  seed: number;
  home: string;
  /** Guessing addresses at once. */
  concurrency: number;
  log(line: string): void;
}

const PASSCODE = 'Heron-Granite-Lantern-31';
const PER_ADDRESS = 10;
/** Guesses each address sends at once before the rest. */
const BURST = 5;
const TECHNICIAN = '127.200.0.1';

/** The q-quantile of sorted numbers. */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Runs the storm phase. */
export async function runStormPhase(o: StormPhaseOptions): Promise<StormPhaseResult> {
  const started = performance.now();
  const random = seededRandom(o.seed);
  const broken: string[] = [];
  const set = await deployr(o.home, ['configure', 'security', '--passcode'], `${PASSCODE}\n${PASSCODE}\n`);
  if (set.code !== 0) throw new Error(`configure security failed: ${set.stderr}`);
  const svc = await startSoakService({ home: o.home, env: { DEPLOYR_LOG_LEVEL: 'warn' } });
  try {
    const addresses = Math.ceil(o.guesses / PER_ADDRESS);
    const statuses: Record<string, number> = {};
    const perAddress = new Map<string, number[]>();
    const bursts = new Map<string, number[]>();
    const retryAfterMissing: string[] = [];
    let succeeded = 0;
    let sent = 0;
    let nextAddress = 0;
    let storming = true;

    const guesser = async (): Promise<void> => {
      while (nextAddress < addresses && sent < o.guesses) {
        const n = nextAddress++;
        const address = `127.${10 + Math.floor(n / 65025)}.${Math.floor(n / 255) % 255}.${(n % 255) + 1}`;
        const seen: number[] = [];
        perAddress.set(address, seen);
        const guess = async (i: number): Promise<number> => {
          sent++;
          const a = await soakRequest({ port: svc.port, method: 'POST', path: '/v1/auth/passcode', headers: { 'content-type': 'application/json' }, body: loginBody(`Wrong-Guess-${random.int(0, 1e12)}-${i}`, 'storm-device'), localAddress: address, timeoutMs: 60_000 });
          const key = a.status === 0 ? `error ${a.error}` : String(a.status);
          statuses[key] = (statuses[key] ?? 0) + 1;
          if (a.status === 200) succeeded++;
          if (a.status === 429 && a.headers['retry-after'] === undefined) retryAfterMissing.push(address);
          return a.status;
        };
        // First a burst (guesses sent together: at most 3 may be checked), then one after another.
        const burst = Math.min(BURST, o.guesses - sent);
        bursts.set(address, await Promise.all(Array.from({ length: burst }, (_, i) => guess(i))));
        for (let i = burst; i < PER_ADDRESS && sent < o.guesses; i++) seen.push(await guess(i));
      }
    };

    // The technician signs in again and again; a 429 (the argon2 queue is full: docs/security.md answers
    // it to the right passcode too) is retried after its Retry-After, and the time counted is the
    // time to the token, retries included.
    const technicianMs: number[] = [];
    let technicianFailures = 0;
    let technicianBusy = 0;
    const technicianSignIn = async (): Promise<void> => {
      const from = performance.now();
      for (;;) {
        const a = await soakRequest({ port: svc.port, method: 'POST', path: '/v1/auth/passcode', headers: { 'content-type': 'application/json' }, body: loginBody(PASSCODE, 'technician-pc'), localAddress: TECHNICIAN, timeoutMs: 60_000 });
        if (a.status === 200) { technicianMs.push(performance.now() - from); return; }
        if (a.status !== 429 || performance.now() - from > 60_000) { technicianFailures++; return; }
        technicianBusy++;
        await new Promise((r) => setTimeout(r, Number(a.headers['retry-after'] ?? 1) * 1000));
      }
    };
    const technician = async (): Promise<void> => {
      while (storming) {
        await technicianSignIn();
        await new Promise((r) => setTimeout(r, 250));
      }
    };

    const tech = technician();
    const progress = setInterval(() => o.log(`storm: ${sent}/${o.guesses} guesses, technician ${technicianMs.length} sign-ins`), 15_000);
    await Promise.all(Array.from({ length: o.concurrency }, guesser));
    clearInterval(progress);
    storming = false;
    await tech;
    // One more technician sign-in after the storm: it clears the consecutive count (and any alert).
    await technicianSignIn();

    // What docs/security.md promises for each guessing address (one device id, distinct wrong values): exactly 3 guesses at once.
    let burstOverBudget = 0;
    for (const b of bursts.values()) if (b.filter((x) => x === 401).length > 3) burstOverBudget++;
    const list = await deployr(o.home, ['throttle', 'list', '--json']);
    const throttle = JSON.parse(list.stdout) as { counters: { scope: string; address: string; failures: number }[]; consecutiveFailures: number; alertSince: string | null };
    let counterMismatch = 0;
    for (const [address, seen] of perAddress) {
      // Every 401 is a counted failure; a guess whose answer did not come in time may or may not have been counted.
      const all = [...(bursts.get(address) ?? []), ...seen];
      const want = all.filter((s) => s === 401).length;
      const unknown = all.filter((s) => s === 0).length;
      const got = throttle.counters.find((c) => c.scope === 'address' && c.address === address)?.failures ?? 0;
      if (got < want || got > want + unknown) counterMismatch++;
    }
    const technicianCounted = throttle.counters.some((c) => c.address === TECHNICIAN);
    const exported = await deployr(o.home, ['audit', 'export']);
    const rows = exported.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { kind: string; result: string });
    const alertsRaised = rows.filter((r) => r.kind === 'alert' && r.result === 'raised').length;
    const alertsCleared = rows.filter((r) => r.kind === 'alert' && r.result === 'cleared').length;
    const verify = await deployr(o.home, ['audit', 'verify']);

    if (succeeded > 0) broken.push(`${succeeded} wrong guesses got a token`);
    if (technicianFailures > 0) broken.push(`the technician got no token ${technicianFailures} times (refused other than 429, or not within 60 s)`);
    if (burstOverBudget > 0) broken.push(`${burstOverBudget} addresses had more than 3 guesses checked at once`);
    if (retryAfterMissing.length > 0) broken.push(`${retryAfterMissing.length} 429 answers without Retry-After`);
    if (counterMismatch > 0) broken.push(`${counterMismatch} addresses whose failure counter differs from the 401 answers they got`);
    if (technicianCounted) broken.push('the technician\'s address has a failure counter');
    if (throttle.consecutiveFailures !== 0 || throttle.alertSince !== null) broken.push(`after the technician's sign-in the consecutive count is ${throttle.consecutiveFailures} and the alert ${throttle.alertSince ?? 'not raised'}`);
    if (alertsRaised !== alertsCleared) broken.push(`${alertsRaised} alerts raised, ${alertsCleared} cleared`);
    if (verify.code !== 0) broken.push('the audit chain does not verify after the storm');
    broken.push(...(await stopCleanly(svc, 'after the storm, the service')));
    const sorted = [...technicianMs].sort((a, b) => a - b);
    return {
      guesses: sent, addresses: perAddress.size, guessStatuses: statuses, succeeded,
      technicianLogins: technicianMs.length, technicianFailures, technicianBusy,
      technicianP50Ms: Math.round(quantile(sorted, 0.5)), technicianP95Ms: Math.round(quantile(sorted, 0.95)), technicianMaxMs: Math.round(sorted[sorted.length - 1] ?? 0),
      technicianOver1s: sorted.filter((x) => x > 1000).length, alertsRaised, alertsCleared, broken, durationMs: performance.now() - started,
    };
  } finally {
    if (svc.child.exitCode === null) await svc.kill();
  }
}
