// The soak's kill phase: the real service on one home, driven with sign-ins, passcode changes, scoped passcodes and run reports, killed -9 at random moments; after each restart nothing acknowledged may be missing.

import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EXPORTS_DIR, type ServiceProcess } from '../test/helpers/deployr-process.js';
import { deployr, killRunningCommands, startSoakService, stopCleanly } from './cli.js';
import { loginBody, soakRequest, tokenIdOf } from './https.js';
import { checkLedger, emptyLedger, type AuditRow, type RunState, type ScopedState } from './ledger.js';
import { loopbackAddress, seededRandom, type Random } from './random.js';

/** The kill phase's figures. */
export interface KillPhaseResult {
  cycles: number;
  /** Requests and commands acknowledged over all cycles, by kind. */
  acknowledged: Record<string, number>;
  /** Where the time went, per stage of a cycle (totals, ms). */
  stageMs: Record<string, number>;
  /** Retried finishes answered 409 (expected). */
  finishConflicts: number;
  /** Answers ≥ 500 seen while driving (the kill itself only causes connection errors). */
  serverErrors: number;
  /** Commands that exited non-zero on their own (a refusal such as a limit), by first line. */
  refusedCommands: Record<string, number>;
  /** Times the unacknowledged passcode change turned out to have been applied. */
  unacknowledgedChangesApplied: number;
  broken: string[];
  durationMs: number;
}

/** Options of the kill phase. */
export interface KillPhaseOptions {
  cycles: number;
  seed: number;
  home: string;
  log(line: string): void;
  /** Hidden: forget an acknowledged sign-in's row, to prove the checks catch a loss. */
  selftestBreak?: boolean;
}

const TS_FILE = 'task-sequence-80e8121b-in-place-refresh.json';
const TS_ID = '80e8121b-c426-4bb9-866e-faf06af2c398';

/** A passcode the policy accepts (long, random words and digits). */
function strongPasscode(random: Random): string {
  const words = ['Heron', 'Granite', 'Lantern', 'Otter', 'Basalt', 'Meadow', 'Falcon', 'Cobalt', 'Willow', 'Quartz', 'Harbor', 'Juniper', 'Tundra', 'Maple'];
  return `${random.pick(words)}-${random.pick(words)}-${random.pick(words)}-${random.int(100000, 999999)}`;
}

/** Runs the kill phase; `broken` lists every invariant that did not hold (empty: all held). */
export async function runKillPhase(o: KillPhaseOptions): Promise<KillPhaseResult> {
  const started = performance.now();
  const random = seededRandom(o.seed);
  const ledger = emptyLedger();
  const acknowledged: Record<string, number> = {};
  const ack = (what: string): void => { acknowledged[what] = (acknowledged[what] ?? 0) + 1; };
  const refused: Record<string, number> = {};
  const broken: string[] = [];
  let finishConflicts = 0;
  let serverErrors = 0;
  const stageMs: Record<string, number> = {};
  let unackApplied = 0;

  // The home: a passcode and a task sequence to run.
  let current = strongPasscode(random);
  let pending: string | null = null;
  const first = await deployr(o.home, ['configure', 'security', '--passcode'], `${current}\n${current}\n`);
  if (first.code !== 0) throw new Error(`configure security failed: ${first.stderr}`);
  ledger.passcodeRevisions.add(Number(/revision (\d+)/.exec(first.stdout)?.[1]));
  const imported = await deployr(o.home, ['ts', 'import', join(EXPORTS_DIR, readdirSync(EXPORTS_DIR).find((f) => f === TS_FILE) as string)]);
  if (imported.code !== 0) throw new Error(`ts import failed: ${imported.stderr}`);

  /** Live scoped passcodes the soak may use or revoke. */
  const live = new Map<string, string>();
  let scopedSerial = 0;
  let lastRuns: string[] = [];

  /** Signs in with `passcode` from a fresh loopback address; the token, or null. */
  const signIn = async (port: number, passcode: string): Promise<string | null> => {
    const a = await soakRequest({ port, method: 'POST', path: '/v1/auth/passcode', headers: { 'content-type': 'application/json' }, body: loginBody(passcode, `soak-${random.int(0, 1e9)}`), localAddress: loopbackAddress(random, 3) });
    if (a.status >= 500) serverErrors++;
    return a.status === 200 ? (JSON.parse(a.text) as { token: string }).token : null;
  };

  /** What the store says after a kill, read with the real tools while the service starts again. */
  const offline = async (): Promise<{ verify: number | null; rows: AuditRow[]; scoped: ScopedState[]; integrity: string }> => {
    const [verify, exported, listed] = await Promise.all([
      deployr(o.home, ['audit', 'verify']),
      deployr(o.home, ['audit', 'export']),
      deployr(o.home, ['passcode', 'list', '--json']),
    ]);
    let integrity = 'ok';
    try {
      const db = new Database(join(o.home, 'deployr.db'), { readonly: true, fileMustExist: true });
      try { integrity = String(db.pragma('integrity_check', { simple: true })); } finally { db.close(); }
    } catch (err) { integrity = `could not open: ${(err as Error).message}`; }
    const rows = exported.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AuditRow);
    const scopedList = JSON.parse(listed.stdout || '{"passcodes":[]}') as { passcodes: ScopedState[] };
    return { verify: verify.code, rows, scoped: scopedList.passcodes, integrity };
  };

  /** After a restart: every invariant, over what was acknowledged before the kill. */
  const check = async (svc: ServiceProcess, cycle: number, store: Awaited<ReturnType<typeof offline>>): Promise<void> => {
    const { verify, rows, scoped, integrity } = store;
    // A valid passcode: the last acknowledged, or the change that was under way when the kill came.
    let token = await signIn(svc.port, current);
    if (token === null && pending !== null) {
      token = await signIn(svc.port, pending);
      if (token !== null) { current = pending; unackApplied++; }
    }
    pending = null;
    const runs = new Map<string, RunState | null>();
    for (const id of lastRuns) {
      if (token === null) break;
      const a = await soakRequest({ port: svc.port, method: 'GET', path: `/v1/runs/${id}`, headers: { authorization: `Bearer ${token}` } });
      runs.set(id, a.status === 200 ? JSON.parse(a.text) as RunState : null);
    }
    if (o.selftestBreak && cycle === 1) ledger.tokens.set(randomUUID(), 'global (self-test: a sign-in whose row was never written)');
    for (const b of checkLedger(ledger, { auditVerifyExit: verify, integrity, rows, scoped, runs, passcodeSignsIn: token !== null })) broken.push(`after kill ${cycle}: ${b}`);
  };

  /** One actor: random actions against the service until `stopped()`. */
  const actor = async (svc: ServiceProcess, r: Random, stopped: () => boolean, cycle: number, runsThisCycle: string[], configures: boolean): Promise<void> => {
    const tokens: string[] = [];
    while (!stopped()) {
      // The configuring actor changes passcodes and adds, uses and revokes scoped ones; the others sign in, use scoped passcodes and report runs.
      const roll = configures ? 0.6 + r.next() * 0.4 : r.chance(0.2) ? 0.86 : r.next() * 0.6;
      if (roll < 0.3 || (roll < 0.6 && tokens.length === 0)) {
        const pass = current;
        const a = await soakRequest({ port: svc.port, method: 'POST', path: '/v1/auth/passcode', headers: { 'content-type': 'application/json' }, body: loginBody(pass, `soak-${r.int(0, 1e9)}`), localAddress: loopbackAddress(r, 3) });
        if (a.status >= 500) serverErrors++;
        if (a.status === 200) {
          const token = (JSON.parse(a.text) as { token: string }).token;
          ledger.tokens.set(tokenIdOf(token), 'global');
          ack('sign-in');
          tokens.push(token);
        } else if (a.status === 0 && stopped()) return;
      } else if (roll < 0.6) {
        const token = r.pick(tokens);
        const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
        const reg = await soakRequest({ port: svc.port, method: 'POST', path: '/v1/runs', headers: auth, body: JSON.stringify({ taskSequenceId: TS_ID, versionNo: 1, deviceId: `soak-run-${r.int(0, 1e9)}`, stepsTotal: 3 }) });
        if (reg.status >= 500) serverErrors++;
        if (reg.status === 401) { tokens.splice(tokens.indexOf(token), 1); continue; }
        if (reg.status !== 201 && reg.status !== 200) continue;
        const id = (JSON.parse(reg.text) as { id: string }).id;
        ledger.runsStarted.add(id);
        runsThisCycle.push(id);
        ack('run registration');
        const steps = new Map<string, string>();
        ledger.steps.set(id, steps);
        for (let i = r.int(1, 3); i > 0 && !stopped(); i--) {
          const key = randomUUID();
          const stepId = randomUUID();
          for (const status of ['running', 'succeeded']) {
            const s = await soakRequest({ port: svc.port, method: 'POST', path: `/v1/runs/${id}/steps`, headers: auth, body: JSON.stringify({ key, stepId, name: `soak step ${i}`, status, exitCode: status === 'running' ? null : 0 }) });
            if (s.status >= 500) serverErrors++;
            if (s.status < 200 || s.status > 299) break;
            steps.set(key, status);
            ack('step report');
          }
        }
        if (stopped()) return;
        for (let attempt = 0; attempt < (r.chance(0.3) ? 2 : 1); attempt++) {
          const f = await soakRequest({ port: svc.port, method: 'POST', path: `/v1/runs/${id}/finish`, headers: auth, body: JSON.stringify({ status: 'succeeded' }) });
          if (f.status >= 500) serverErrors++;
          if (f.status >= 200 && f.status < 300) { ledger.runsFinished.set(id, 'succeeded'); ack('run finish'); } else if (f.status === 409 && attempt > 0) finishConflicts++;
        }
      } else if (roll < 0.72) {
        if (pending !== null) continue;
        const next = strongPasscode(r);
        pending = next;
        const c = await deployr(o.home, ['configure', 'security', '--passcode'], `${next}\n${next}\n`);
        if (c.code === 0) {
          ledger.passcodeRevisions.add(Number(/revision (\d+)/.exec(c.stdout)?.[1]));
          current = next;
          pending = null;
          ack('passcode change');
        } else if (c.signal === null) {
          pending = null;
          const line = c.stderr.split('\n')[0] ?? '';
          refused[`configure security: ${line}`] = (refused[`configure security: ${line}`] ?? 0) + 1;
        } else return; // killed with the service: stays pending until the check after the restart
      } else if (roll < 0.85) {
        const name = `soak-${cycle}-${++scopedSerial}`;
        const uses = r.int(1, 4);
        const generate = live.size >= 4 || r.chance(0.5);
        const typed = generate ? '' : strongPasscode(r);
        const c = await deployr(o.home, ['passcode', 'add', name, '--uses', String(uses), ...(generate ? ['--generate'] : [])], generate ? '' : `${typed}\n${typed}\n`);
        if (c.code === 0) {
          const value = generate ? /^\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4}){5})\s*$/m.exec(c.stdout)?.[1] ?? '' : typed;
          ledger.scopedAdded.set(name, uses);
          live.set(name, value);
          ack('scoped passcode add');
        } else if (c.signal === null) {
          const line = c.stderr.split('\n')[0] ?? '';
          refused[`passcode add: ${line}`] = (refused[`passcode add: ${line}`] ?? 0) + 1;
        } else return;
      } else if (roll < 0.94) {
        if (live.size === 0) continue;
        const name = r.pick([...live.keys()]);
        const a = await soakRequest({ port: svc.port, method: 'POST', path: '/v1/auth/passcode', headers: { 'content-type': 'application/json' }, body: loginBody(live.get(name) as string, `soak-${r.int(0, 1e9)}`), localAddress: loopbackAddress(r, 3) });
        if (a.status >= 500) serverErrors++;
        if (a.status === 200) {
          const token = (JSON.parse(a.text) as { token: string }).token;
          ledger.tokens.set(tokenIdOf(token), name);
          ledger.scopedUses.set(name, (ledger.scopedUses.get(name) ?? 0) + 1);
          ack('scoped sign-in');
        }
      } else {
        if (live.size === 0) continue;
        const name = r.pick([...live.keys()]);
        live.delete(name);
        const c = await deployr(o.home, ['passcode', 'revoke', name]);
        if (c.code === 0) { ledger.scopedRevoked.add(name); ack('scoped passcode revoke'); } else if (c.signal !== null) return;
      }
    }
  };

  let svc = await startSoakService({ home: o.home });
  let done = 0;
  for (let cycle = 1; cycle <= o.cycles; cycle++) {
    const runsThisCycle: string[] = [];
    let stop = false;
    let t = performance.now();
    const lap = (stage: string): void => { const n = performance.now(); stageMs[stage] = Math.round((stageMs[stage] ?? 0) + n - t); t = n; };
    const actors = Array.from({ length: 4 }, (_, i) => actor(svc, seededRandom(random.seed()), () => stop, cycle, runsThisCycle, i === 0));
    await new Promise((r) => setTimeout(r, random.int(500, 5000)));
    stop = true;
    lap('drive');
    await svc.kill();
    // Two cycles in three, the configuration commands under way die with the service (a change cut off);
    // in the third they finish against the store while the service is down (a change acknowledged then).
    if (random.int(0, 2) > 0) killRunningCommands();
    await Promise.all(actors);
    lap('kill');
    lastRuns = runsThisCycle.slice(-20);
    const [next, store] = await Promise.all([startSoakService({ home: o.home }).finally(() => lap('start')), offline()]);
    lap('offline checks (after the start)');
    svc = next;
    await check(svc, cycle, store);
    lap('online checks');
    done = cycle;
    if (cycle % 5 === 0 || cycle === o.cycles) o.log(`kill: ${cycle}/${o.cycles} cycles, ${broken.length} broken, ${JSON.stringify(acknowledged)}`);
    if (broken.length > 0) break;
  }
  if (serverErrors > 0) broken.push(`${serverErrors} answers ≥ 500 while driving the service`);
  broken.push(...(await stopCleanly(svc, 'the final service')));
  return { cycles: done, stageMs, acknowledged, finishConflicts, serverErrors, refusedCommands: refused, unacknowledgedChangesApplied: unackApplied, broken, durationMs: performance.now() - started };
}
