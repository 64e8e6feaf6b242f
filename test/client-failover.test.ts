// End to end: a client given several servers (two `deployr serve` processes sharing one home) moves to the next when one stops answering, and finishes its run there.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEPLOYR_BIN, runDeployr, setPasscode, startService, tempHome, waitFor, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { PASSCODE, RUN_COMMAND_LINE, RUN_SERVER_SCRIPT, runIdOf, waitingStep } from './helpers/field-fixture.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

/** `text` as a literal inside a RegExp. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A loopback port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('a client with several servers', () => {
  const work = mkdtempSync(join(tmpdir(), 'deployr-failover-work-'));
  const children: ChildProcess[] = [];
  const services: ServiceProcess[] = [];
  const homes: (() => void)[] = [];

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of services) await s.kill();
    for (const cleanup of homes) cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  /** A home with the passcode set and Scripts/hello.sh, served by `count` serve processes (one SQLite file, one signing key, one content folder). */
  async function cluster(name: string, count: number): Promise<{ home: string; nodes: ServiceProcess[] }> {
    const { home, cleanup } = tempHome(`deployr-failover-${name}-`);
    homes.push(cleanup);
    assert.equal((await setPasscode(home, PASSCODE)).code, 0);
    mkdirSync(join(home, 'content', 'Scripts'), { recursive: true });
    writeFileSync(join(home, 'content', 'Scripts', 'hello.sh'), 'echo "hello from the server"\n');
    const nodes: ServiceProcess[] = [];
    for (let i = 0; i < count; i++) {
      const node = await startService({ home });
      services.push(node);
      nodes.push(node);
    }
    return { home, nodes };
  }

  async function importTs(home: string, ts: Json): Promise<string> {
    const file = join(work, `${ts.id as string}.json`);
    writeFileSync(file, JSON.stringify(ts));
    const r = await runDeployr(['ts', 'import', file], { home });
    assert.equal(r.code, 0, r.stderr);
    return ts.id as string;
  }

  /** `deployr client ARGS` (no --server added: the test gives the servers), with the Passcode variable from the environment. */
  function startClient(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output(): string; done: Promise<CommandResult> } {
    const child = spawn(process.execPath, [DEPLOYR_BIN, 'client', ...args], {
      env: { ...process.env, DEPLOYR_HOME: join(work, 'nowhere'), DEPLOYR_VAR_Passcode: PASSCODE, ...env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdin!.end();
    const done = new Promise<CommandResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return { child, output: () => stdout + stderr, done };
  }

  /** Each step's line in `runs show`, as many times as it is there. */
  async function stepLines(home: string, runId: string): Promise<string[]> {
    const shown = await runDeployr(['runs', 'show', runId], { home });
    assert.equal(shown.code, 0, shown.stderr);
    return shown.stdout.split('\n').filter((l) => /^\s*[>+!x-] /.test(l)).map((l) => l.trim());
  }

  /** The passcode logins of `device` in the audit trail. */
  async function logins(home: string, device: string): Promise<{ method: string; result: string }[]> {
    const audit = await runDeployr(['audit', '--kind', 'login', '--json'], { home });
    assert.equal(audit.code, 0, audit.stderr);
    return audit.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { method: string; result: string; device: string | null }).filter((e) => e.device === device);
  }

  test('the first server is killed (-9) during a step: the client moves to the second once, keeps its token, and the run finishes there with every step reported once', async () => {
    const { home, nodes: [a, b] } = await cluster('kill', 2) as { home: string; nodes: [ServiceProcess, ServiceProcess] };
    const marker = join(work, 'kill-marker');
    const go = join(work, 'kill-go');
    const tsId = await importTs(home, taskSequence('Failover', [
      waitingStep('Before', marker, go),
      step('Needs the server', RUN_SERVER_SCRIPT, { ScriptName: 'hello.sh', Parameters: '' }),
      step('After', RUN_COMMAND_LINE, { CommandLine: 'echo after' }),
    ]));
    // One server per --server here; the comma-separated form is tested below.
    const c = startClient(['--server', a.url, '--server', b.url, '--ca', a.caFile, '--fullos', '--ts', tsId, '--device-id', 'failover-kill', '--state-dir', join(work, 'state-kill')]);
    await waitFor(() => existsSync(marker), 60_000, 'the first step to start');
    const runId = runIdOf(c.output());
    await a.kill();
    writeFileSync(go, '');
    const r = await c.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`Server ${literal(a.url)} stopped answering \\((ECONNREFUSED|ECONNRESET)\\); moving to ${literal(b.url)}\\.`));
    assert.equal(r.stdout.match(/stopped answering|does not answer/g)?.length, 1, 'one move, then the client stays on the second server');
    assert.match(r.stdout, /Task sequence "Failover" succeeded/);
    // The token the first server issued is accepted by the second (the signing key is in the shared store): no second sign-in.
    assert.equal(r.stdout.match(/^Signed in /gm)?.length, 1, r.stdout);
    assert.doesNotMatch(r.stdout, /signed in again/i);
    assert.deepEqual((await logins(home, 'failover-kill')).map((e) => `${e.method}:${e.result}`), ['passcode:success'], 'one login in the audit trail');
    // The run finished on the second server, with each step reported once.
    assert.ok(b.output().includes(`/v1/runs/${runId}/finish`), 'the second server took the end of the run');
    const lines = await stepLines(home, runId);
    for (const name of ['Before', 'Needs the server', 'After']) {
      assert.equal(lines.filter((l) => l.startsWith(`+ ${name}  (succeeded`)).length, 1, `${name} once, succeeded:\n${lines.join('\n')}`);
    }
    assert.equal(lines.length, 3, lines.join('\n'));
    const shown = await runDeployr(['runs', 'show', runId], { home });
    assert.match(shown.stdout, /Failover .* succeeded/);
    assert.equal((await runDeployr(['audit', 'verify'], { home })).code, 0);
  });

  test('DEPLOYRHOST with a comma-separated list whose first server is down from the start: one line, then the run goes on the second', async () => {
    const { home, nodes: [b] } = await cluster('down', 1) as { home: string; nodes: [ServiceProcess] };
    const dead = `https://127.0.0.1:${await closedPort()}`;
    const tsId = await importTs(home, taskSequence('Second server', [
      step('Hello', RUN_SERVER_SCRIPT, { ScriptName: 'hello.sh', Parameters: '' }),
      step('After', RUN_COMMAND_LINE, { CommandLine: 'echo after' }),
    ]));
    const c = startClient(['--ca', b.caFile, '--fullos', '--ts', tsId, '--device-id', 'failover-down', '--state-dir', join(work, 'state-down')], { DEPLOYRHOST: ` ${dead}, ${b.url} ` });
    const r = await c.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^Server ${literal(dead)} does not answer \\(ECONNREFUSED\\); trying ${literal(b.url)}\\.$`, 'm'));
    assert.equal(r.stdout.match(/does not answer|stopped answering/g)?.length, 1, 'pinned to the second server once it answered');
    assert.match(r.stdout, /Task sequence "Second server" succeeded/);
    const lines = await stepLines(home, runIdOf(r.stdout));
    assert.deepEqual(lines.map((l) => l.replace(/ {2}\(.*/, '')), ['+ Hello', '+ After']);
    assert.equal((await logins(home, 'failover-down')).length, 1);
  });

  test('every server down during a run: the patience covers the whole list, and the run finishes when one comes back', async () => {
    const { home, nodes } = await cluster('all', 2);
    const [a, first] = nodes as [ServiceProcess, ServiceProcess];
    let b = first;
    const marker = join(work, 'all-marker');
    const go = join(work, 'all-go');
    const tsId = await importTs(home, taskSequence('Outage of all', [
      waitingStep('Before', marker, go),
      step('After', RUN_COMMAND_LINE, { CommandLine: 'echo after' }),
    ]));
    const c = startClient(['--server', `${a.url},${b.url}`, '--ca', a.caFile, '--fullos', '--ts', tsId, '--device-id', 'failover-all', '--state-dir', join(work, 'state-all')]);
    await waitFor(() => existsSync(marker), 60_000, 'the first step to start');
    await a.kill();
    await b.kill();
    writeFileSync(go, '');
    await waitFor(() => new RegExp(`No server answers \\(${literal(a.url)} ECONNREFUSED, ${literal(b.url)} ECONNREFUSED\\), retrying in`).test(c.output()), 60_000, 'the wait line naming both servers');
    b = await startService({ home, args: ['--port', String(b.port)] });
    services.push(b);
    const r = await c.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`The server ${literal(b.url)} answers; carrying on\\.`));
    assert.match(r.stdout, /Task sequence "Outage of all" succeeded/);
    assert.equal(r.stdout.match(/^Signed in /gm)?.length, 1);
    const lines = await stepLines(home, runIdOf(r.stdout));
    assert.deepEqual(lines.map((l) => l.replace(/ {2}\(.*/, '')), ['+ Before', '+ After']);
  });

  test('a bad entry in the list, or no server at all, is one line before anything is sent', async () => {
    const bad = await runDeployr(['client', '--server', 'https://127.0.0.1:1,ftp://deployr.lan', '--ts', '8770d276-1c2b-4c1e-9d1a-2f7f4b5c6d7e']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr, 'error: The server URL (entry 2 of 2 in --server) must start with https:// (got ftp://); the service speaks HTTPS on port 7281. [INPUT]\n');
    const env = await runDeployr(['client', '--ts', '8770d276-1c2b-4c1e-9d1a-2f7f4b5c6d7e'], { env: { DEPLOYRHOST: 'https://127.0.0.1:1,https://not a host' } });
    assert.equal(env.code, 1);
    assert.equal(env.stderr, 'error: "https://not a host" (entry 2 of 2 in DEPLOYRHOST) is not a server address; use https://HOST:7281 (or HOST:PORT). [INPUT]\n');
    const none = await runDeployr(['client'], { env: { DEPLOYRHOST: '' } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^error: Give the server with --server https:\/\/HOST:7281 \(several: repeat it, or separate them with commas\), or set DEPLOYRHOST\. \[INPUT\]\n$/);
  });
});
