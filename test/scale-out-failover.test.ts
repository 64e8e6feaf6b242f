// End to end on PostgreSQL: a node killed (-9) in the middle of a login storm and a client run (the run finishes on another node, nothing acknowledged is lost), and the database lost under a running node (fails closed, recovers).

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cuttableProxy, passcodeLogin, sourceAddresses, startCluster, type Cluster } from './helpers/cluster.js';
import { DEPLOYR_BIN, runDeployr, startService, tempHome, waitFor, type CommandResult } from './helpers/deployr-process.js';
import { httpsJson } from './helpers/https-json.js';
import { PASSCODE, RUN_COMMAND_LINE, RUN_SERVER_SCRIPT, runIdOf, waitingStep } from './helpers/field-fixture.js';
import { freshSchemaUrl, PG_BASE_URL, PG_REQUIRED, pgUnavailableReason } from './helpers/postgres.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const unavailable = await pgUnavailableReason();
if (unavailable && PG_REQUIRED) throw new Error(`${unavailable} (DEPLOYR_PG_TESTS=required)`);
const skip = unavailable ? `${unavailable}; set DEPLOYR_TEST_PG_URL, or DEPLOYR_PG_TESTS=required to fail instead` : false;

const nextSource = sourceAddresses(30);

/** A passcode login against one node, from a fresh source address. */
function login(url: string, passcode: string, options: { deviceId?: string } = {}): ReturnType<typeof passcodeLogin> {
  return passcodeLogin(url, passcode, { ...options, localAddress: nextSource() });
}

describe('a node lost under load', { skip }, () => {
  const children: ChildProcess[] = [];
  const work = mkdtempSync(join(tmpdir(), 'deployr-scale-out-kill-'));
  let opened: { cluster: Cluster; drop(): Promise<void> } | null = null;

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (opened) { await opened.cluster.close(); await opened.drop(); }
    rmSync(work, { recursive: true, force: true });
  });

  /** `deployr ARGS` on node `i`'s home with the cluster's database and content folder. */
  function cli(cluster: Cluster, args: string[], input?: string, i = 0): Promise<CommandResult> {
    return runDeployr(args, { home: cluster.homes[i]!, env: cluster.env, ...(input !== undefined ? { input } : {}) });
  }

  /** Three nodes on a fresh schema, the passcode set. */
  async function threeNodes(): Promise<Cluster> {
    const schema = await freshSchemaUrl();
    const cluster = await startCluster({ size: 3, databaseUrl: schema.url });
    opened = { cluster, drop: schema.drop };
    const set = await cli(cluster, ['configure', 'security', '--passcode'], `${PASSCODE}\n${PASSCODE}\n`);
    assert.equal(set.code, 0, set.stderr);
    await waitFor(async () => (await login(cluster.nodes[2]!.url, PASSCODE)).status === 200, 10_000, 'the passcode on node 3');
    return cluster;
  }

  test('node 1 is killed (-9) during a login storm and a client run: the run finishes on another node, and no acknowledged login is lost', async () => {
    const cluster = await threeNodes();
    const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    mkdirSync(join(cluster.env.DEPLOYR_CONTENT_DIR!, 'Scripts'), { recursive: true });
    writeFileSync(join(cluster.env.DEPLOYR_CONTENT_DIR!, 'Scripts', 'hello.sh'), 'echo "hello from the server"\n');
    const marker = join(work, 'kill-marker');
    const go = join(work, 'kill-go');
    const ts: Json = taskSequence('Failover on PostgreSQL', [
      waitingStep('Before', marker, go),
      step('Needs the server', RUN_SERVER_SCRIPT, { ScriptName: 'hello.sh', Parameters: '' }),
      step('After', RUN_COMMAND_LINE, { CommandLine: 'echo after' }),
    ]);
    const file = join(work, 'failover-ts.json');
    writeFileSync(file, JSON.stringify(ts));
    assert.equal((await cli(cluster, ['ts', 'import', file])).code, 0);
    const child = spawn(process.execPath, [DEPLOYR_BIN, 'client', '--server', `${n1!.url},${n2!.url},${n3!.url}`, '--ca', n1!.caFile, '--fullos', '--ts', ts.id as string, '--device-id', 'scale-out-client', '--state-dir', join(work, 'client-state')], {
      env: { ...process.env, DEPLOYR_HOME: join(work, 'nowhere'), DEPLOYR_VAR_Passcode: PASSCODE }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waitFor(() => existsSync(marker), 60_000, 'the first step to start');
    const runId = runIdOf(out);

    // The storm: logins on every node, node 1 killed in the middle of it.
    const storm = cluster.nodes.flatMap((node, n) => Array.from({ length: 60 }, (_, i) => login(node.url, PASSCODE, { deviceId: `storm-${n}-${i}` }).catch(() => ({ status: 0, token: '', retryAfter: undefined }))));
    await new Promise((r) => setTimeout(r, 150));
    await n1!.kill();
    const answered = await Promise.all(storm);
    writeFileSync(go, '');
    assert.equal(await done, 0, out);
    assert.match(out, /stopped answering/);
    assert.match(out, /Task sequence "Failover on PostgreSQL" succeeded/);
    assert.equal(out.match(/^Signed in /gm)?.length, 1, 'the token from before the kill stays valid on the other nodes');

    const acknowledged = answered.map((r, i) => ({ ok: r.status === 200, device: `storm-${Math.floor(i / 60)}-${i % 60}` })).filter((r) => r.ok).map((r) => r.device);
    assert.ok(acknowledged.length >= 120, `nodes 2 and 3 answered their logins (${acknowledged.length} of 180)`);
    const audit = await cli(cluster, ['audit', '--kind', 'login', '--result', 'success', '--json'], undefined, 1);
    const recorded = new Set(audit.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { device: string | null }).device));
    assert.deepEqual(acknowledged.filter((d) => !recorded.has(d)), [], 'every login answered 200 has its audit row');
    const shown = await cli(cluster, ['runs', 'show', runId], undefined, 2);
    assert.match(shown.stdout, /succeeded/);
    for (const name of ['Before', 'Needs the server', 'After']) {
      assert.equal(shown.stdout.split('\n').filter((l) => l.trim().startsWith(`+ ${name}  (succeeded`)).length, 1, shown.stdout);
    }
    const verify = await cli(cluster, ['audit', 'verify'], undefined, 2);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    // The killed node comes back on the same database.
    const back = await cluster.restart(0);
    assert.equal((await login(back.url, PASSCODE)).status, 200);
  });
});

describe('the database lost under a running node', { skip }, () => {
  test('logins answer 503 UNAVAILABLE with no token while PostgreSQL cannot be reached, health still answers, and the node recovers on its own when it is back', async () => {
    const schema = await freshSchemaUrl();
    const base = new URL(PG_BASE_URL);
    const proxy = await cuttableProxy({ host: base.hostname, port: Number(base.port || 5432) });
    const { home, cleanup } = tempHome('deployr-db-outage-');
    const proxied = new URL(schema.url);
    proxied.port = String(proxy.port);
    let node: Awaited<ReturnType<typeof startService>> | null = null;
    try {
      const set = await runDeployr(['configure', 'security', '--passcode'], { home, env: { DEPLOYR_DATABASE_URL: schema.url }, input: `${PASSCODE}\n${PASSCODE}\n` });
      assert.equal(set.code, 0, set.stderr);
      node = await startService({ home, env: { DEPLOYR_DATABASE_URL: proxied.toString() } });
      assert.equal((await login(node.url, PASSCODE)).status, 200);

      await proxy.cut();
      const refused = await httpsJson(`${node.url}/v1/auth/passcode`, { body: { passcode: PASSCODE, context: 'boot' }, localAddress: nextSource() });
      assert.equal(refused.status, 503, refused.text);
      assert.equal((refused.body as { error: { code: string } }).error.code, 'UNAVAILABLE');
      assert.ok(!refused.text.includes('token'), 'no token while the database is away');
      assert.ok(!node.output().includes(PASSCODE), 'the passcode is in no log line');
      assert.equal((await httpsJson(`${node.url}/v1/health`)).status, 200, 'health answers (the process is alive)');

      await proxy.restore();
      await waitFor(async () => (await login(node!.url, PASSCODE)).status === 200, 20_000, 'logins again once the database is back');
      const verify = await runDeployr(['audit', 'verify'], { home, env: { DEPLOYR_DATABASE_URL: schema.url } });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    } finally {
      await node?.stop();
      await proxy.close();
      cleanup();
      await schema.drop();
    }
  });
});
