// Test helper for the client-in-the-field tests: one service with a passcode, client processes a test can signal, task sequences to import.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { DEPLOYR_BIN, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './deployr-process.js';
import { step, type Json } from './task-sequence-json.js';

/** The passcode of every fixture service. */
export const PASSCODE = 'Marigold-Ferry-Quartz-83';
/** Built-in step types used by these tests. */
export const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
export const RUN_SERVER_SCRIPT = '00000002-0000-0000-0000-000000000003';

/** A client process that a test can signal while it runs. */
export interface ClientProcess {
  child: ChildProcess;
  output(): string;
  done: Promise<CommandResult>;
}

/** A Run command line step that writes `marker`, then waits until `go` exists (so a test can act mid-step). */
export function waitingStep(name: string, marker: string, go: string): Json {
  return step(name, RUN_COMMAND_LINE, { CommandLine: `echo started >> "${marker}"; while [ ! -e "${go}" ]; do sleep 0.1; done; echo "${name} done"` });
}

/** The run id a client printed. */
export function runIdOf(text: string): string {
  const id = /^Run ([0-9a-f-]{36}):/m.exec(text)?.[1];
  assert.ok(id, `no run id in:\n${text}`);
  return id;
}

/** What a field test works with; the service starts in `before` and everything is removed in `after`. */
export interface FieldFixture {
  home: string;
  work: string;
  svc(): ServiceProcess;
  cli(args: string[], home?: string): Promise<CommandResult>;
  startClient(server: ServiceProcess, args: string[], stateDir: string, env?: Record<string, string>, input?: string): ClientProcess;
  importTs(ts: Json, home?: string): Promise<string>;
  /** A home with the passcode set and a Scripts/hello.sh server-side script. */
  prepareHome(home: string): Promise<void>;
}

/** Registers `before`/`after` hooks in the current suite and returns the fixture. */
export function fieldFixture(prefix: string): FieldFixture {
  const { home, cleanup } = tempHome(`deployr-${prefix}-`);
  const work = mkdtempSync(join(tmpdir(), `deployr-${prefix}-work-`));
  let svc: ServiceProcess | undefined;
  const children: ChildProcess[] = [];
  const cli = (args: string[], h = home): Promise<CommandResult> => runDeployr(args, { home: h });
  const prepareHome = async (h: string): Promise<void> => {
    assert.equal((await setPasscode(h, PASSCODE)).code, 0);
    mkdirSync(join(h, 'content', 'Scripts'), { recursive: true });
    writeFileSync(join(h, 'content', 'Scripts', 'hello.sh'), 'echo "hello from the server"\n');
  };
  before(async () => {
    await prepareHome(home);
    svc = await startService({ home });
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) { c.kill('SIGCONT'); c.kill('SIGKILL'); }
    await svc?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });
  return {
    home, work, cli, prepareHome,
    svc: () => { assert.ok(svc, 'the service is started'); return svc; },
    startClient(server, args, stateDir, env = {}, input = '') {
      const child = spawn(process.execPath, [DEPLOYR_BIN, 'client', '--server', server.url, '--ca', server.caFile, '--state-dir', stateDir, ...args], {
        env: { ...process.env, DEPLOYR_HOME: join(work, 'nowhere'), ...env }, stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.stdin!.end(input);
      const done = new Promise<CommandResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
      return { child, output: () => stdout + stderr, done };
    },
    async importTs(ts, h = home) {
      const file = join(work, `${ts.id as string}.json`);
      writeFileSync(file, JSON.stringify(ts));
      const r = await cli(['ts', 'import', file], h);
      assert.equal(r.code, 0, r.stderr);
      return ts.id as string;
    },
  };
}
