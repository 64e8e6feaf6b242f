// Scoped passcodes end to end: a real service with two worker processes, the real CLI and client processes, plain HTTPS; scope by task sequence, source, expiry and uses, revocation, and no secret anywhere.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runDeployr, startService, tempHome, waitFor, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { httpsJson, type JsonResponse } from './helpers/https-json.js';
import { signIn, type AdminClient } from './helpers/admin-session.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const GLOBAL = 'Global-Passcode-Lantern-2026';
const SITE_A = 'Scoped-Site-A-Harbour-77';
const RUN_TS = '00000001-0000-0000-0000-00000000000d';
const COMMAND = '00000002-0000-0000-0000-000000000001';
const PASSWORDS = { root: 'Root-Admin-Password-Cedar-9', vera: 'Viewer-Password-Birch-Lake-4' };
const GENERATED = /^ {2}([2-9A-Z]{4}(?:-[2-9A-Z]{4}){5})$/m;

let home: { home: string; cleanup(): void };
let service: ServiceProcess;
let ca: string;
const ids = { outer: '', module: '', other: '', inOuter: '', inModule: '', inOther: '' };
/** Every scoped passcode made in this file: none may show up anywhere. */
const secrets: string[] = [SITE_A];
/** Every response body read in this file. */
const responses: string[] = [];
/** Every argv this file ran. */
const argvs: string[][] = [];
let sourceCounter = 0;

/** Each login from its own loopback address, so the throttle never mixes the cases. */
function nextSource(): string {
  sourceCounter += 1;
  return `127.0.${Math.floor(sourceCounter / 250) + 20}.${(sourceCounter % 250) + 1}`;
}

async function cli(args: string[], input?: string): Promise<CommandResult> {
  argvs.push(args);
  const r = await runDeployr(args, { home: home.home, ...(input !== undefined ? { input } : {}) });
  responses.push(r.stdout, r.stderr);
  return r;
}

async function keep(r: Promise<JsonResponse>): Promise<JsonResponse> {
  const res = await r;
  responses.push(res.text);
  return res;
}

function login(passcode: string, options: { context?: 'boot' | 'fullos'; taskSequence?: string; from?: string } = {}): Promise<JsonResponse> {
  return keep(httpsJson(`${service.url}/v1/auth/passcode`, {
    body: { passcode, context: options.context ?? 'boot', ...(options.taskSequence ? { taskSequence: options.taskSequence } : {}) },
    ca, localAddress: options.from ?? nextSource(),
  }));
}

/** `deployr audit --json` writes one entry per line. */
const jsonLines = (text: string): unknown[] => text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
const tokenOf = (r: JsonResponse): string => (r.body as { token: string }).token;
const get = (path: string, token: string, from?: string): Promise<JsonResponse> => keep(httpsJson(`${service.url}${path}`, { token, ca, ...(from ? { localAddress: from } : {}) }));

/** `deployr passcode add NAME ARGS --generate`; returns the passcode shown once. */
async function addGenerated(name: string, args: string[]): Promise<string> {
  const r = await cli(['passcode', 'add', name, ...args, '--generate']);
  assert.equal(r.code, 0, r.stderr);
  const code = GENERATED.exec(r.stdout)?.[1];
  assert.ok(code, `no generated passcode in:\n${r.stdout}`);
  secrets.push(code);
  return code;
}

async function addTyped(name: string, passcode: string, args: string[]): Promise<void> {
  const r = await cli(['passcode', 'add', name, ...args], `${passcode}\n${passcode}\n`);
  assert.equal(r.code, 0, r.stderr);
  if (!secrets.includes(passcode)) secrets.push(passcode);
}

async function contentItem(name: string): Promise<string> {
  const created = await cli(['content', 'create', '--name', name, '--purpose', 'Other', '--type', 'SingleFile']);
  assert.equal(created.code, 0, created.stderr);
  const id = /\(([0-9a-f-]{36})\)/.exec(created.stdout)?.[1] as string;
  const file = join(home.home, `${name}.txt`);
  writeFileSync(file, `${name}\n`);
  assert.equal((await cli(['content', 'add-version', id, file])).code, 0);
  assert.equal((await cli(['content', 'activate', id, '1'])).code, 0);
  return id;
}

async function importTs(json: Record<string, unknown>): Promise<string> {
  const file = join(home.home, `ts-${String(json.id)}.json`);
  writeFileSync(file, JSON.stringify(json));
  const r = await cli(['ts', 'import', file]);
  assert.equal(r.code, 0, r.stderr);
  return String(json.id);
}

/** The exact answer to a wrong passcode, for comparison. */
let wrongAnswer: { status: number; body: unknown };

before(async () => {
  home = tempHome('deployr-scoped-');
  mkdirSync(home.home, { recursive: true });
  ids.inOuter = await contentItem('in-outer');
  ids.inModule = await contentItem('in-module');
  ids.inOther = await contentItem('in-other');
  const withContent = (item: string, text: string) => step(`Echo ${text}`, COMMAND, { CommandLine: `echo ${text}` }, { contentItems: { content: `${item}:1` } });
  ids.module = await importTs(taskSequence('Module', [withContent(ids.inModule, 'module-ran')]));
  ids.outer = await importTs(taskSequence('Outer', [withContent(ids.inOuter, 'outer-ran'), step('Run module', RUN_TS, { childTaskSequenceId: `${ids.module}:1` })]));
  ids.other = await importTs(taskSequence('Other', [withContent(ids.inOther, 'other-ran')]));
  assert.equal((await cli(['configure', 'security', '--passcode'], `${GLOBAL}\n${GLOBAL}\n`)).code, 0);
  assert.equal((await cli(['admin', 'add', 'root', '--role', 'admin'], `${PASSWORDS.root}\n${PASSWORDS.root}\n`)).code, 0);
  assert.equal((await cli(['admin', 'add', 'vera', '--role', 'viewer'], `${PASSWORDS.vera}\n${PASSWORDS.vera}\n`)).code, 0);
  // Two worker processes: uses, revocation and expiry must hold across processes sharing the store.
  service = await startService({ home: home.home, args: ['--workers', '2'] });
  ca = readFileSync(service.caFile, 'utf8');
  const wrong = await login('Not-Any-Passcode-At-All-1');
  wrongAnswer = { status: wrong.status, body: wrong.body };
  assert.equal(wrong.status, 401);
});

after(async () => {
  await service?.stop();
  home?.cleanup();
});

describe('scoped passcodes', () => {
  test('scope by task sequence: the real client runs its task sequence (and the module it runs), never another; the token reads nothing else', async () => {
    await addTyped('site-a', SITE_A, ['--ts', ids.outer]);
    const state = join(home.home, 'client-state');
    const ok = await runDeployr(['client', '--server', service.url, '--ca', service.caFile, '--state-dir', state, '--ts', `${ids.outer}:1`], { input: `${SITE_A}\n` });
    responses.push(ok.stdout, ok.stderr);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /Signed in \(passcode\)/);
    assert.match(ok.stdout, /outer-ran/);
    assert.match(ok.stdout, /module-ran/);
    const refused = await runDeployr(['client', '--server', service.url, '--ca', service.caFile, '--state-dir', join(home.home, 'client-state-2'), '--ts', `${ids.other}:1`], { input: `${SITE_A}\n` });
    responses.push(refused.stdout, refused.stderr);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.doesNotMatch(refused.stdout, /other-ran/);

    const r = await login(SITE_A);
    assert.equal(r.status, 200, r.text);
    const token = tokenOf(r);
    const list = await get('/v1/task-sequences', token);
    assert.deepEqual((list.body as { taskSequences: { id: string }[] }).taskSequences.map((t) => t.id), [ids.outer]);
    assert.equal((await get(`/v1/task-sequences/${ids.module}`, token)).status, 200, 'the module it runs');
    const other = await get(`/v1/task-sequences/${ids.other}`, token);
    const missing = await get('/v1/task-sequences/99999999-9999-9999-9999-999999999999', token);
    assert.equal(other.status, 404);
    assert.equal(missing.status, 404);
    assert.equal((other.body as { error: { code: string } }).error.code, (missing.body as { error: { code: string } }).error.code);
    const content = await get('/v1/content-items', token);
    assert.deepEqual((content.body as { contentItems: { id: string }[] }).contentItems.map((c) => c.id).sort(), [ids.inOuter, ids.inModule].sort());
    assert.equal((await get(`/v1/content-items/${ids.inOther}`, token)).status, 404);
    // Runs: another task sequence's run cannot be registered; it lists only its own.
    const forbidden = await keep(httpsJson(`${service.url}/v1/runs`, { body: { taskSequenceId: ids.other, versionNo: 1, deviceId: 'PC-X' }, token, ca }));
    assert.equal(forbidden.status, 403, forbidden.text);
    const mine = await keep(httpsJson(`${service.url}/v1/runs`, { body: { taskSequenceId: ids.outer, versionNo: 1, deviceId: 'PC-A' }, token, ca }));
    assert.equal(mine.status, 201, mine.text);
    const runs = await get('/v1/runs', token);
    assert.deepEqual((runs.body as { runs: { id: string }[] }).runs.map((x) => x.id), [(mine.body as { id: string }).id]);

    // A full-OS start naming a task sequence outside the scope: the same answer as a wrong passcode.
    const outside = await login(SITE_A, { context: 'fullos', taskSequence: ids.other });
    assert.deepEqual({ status: outside.status, body: outside.body }, wrongAnswer);
    // The audit row names the passcode (by name) on success.
    const audit = await cli(['audit', '--kind', 'login', '--json']);
    const rows = jsonLines(audit.stdout) as { result: string; subject: string; reason: string; detail: { scopedPasscode?: string } }[];
    assert.ok(rows.some((row) => row.result === 'success' && row.subject === 'passcode:site-a' && row.detail.scopedPasscode === 'site-a'), audit.stdout);
    assert.ok(rows.some((row) => row.result === 'failure' && row.reason === 'scope_task_sequence' && row.detail.scopedPasscode === 'site-a'), audit.stdout);
    // The global passcode still reads everything.
    const global = await login(GLOBAL);
    assert.equal((await get(`/v1/task-sequences/${ids.other}`, tokenOf(global))).status, 200);
  });

  test('scope by source: refused from outside its ranges (as any failure), allowed inside; its token works only from them', async () => {
    const far = await addGenerated('far-away', ['--from', '10.0.0.0/8']);
    const refused = await login(far, { from: '127.0.0.1' });
    assert.deepEqual({ status: refused.status, body: refused.body }, wrongAnswer);
    const near = await addGenerated('loopback', ['--from', '127.0.0.0/8']);
    assert.equal((await login(near)).status, 200);
    // Lower case, no dashes: the same generated passcode.
    assert.equal((await login(near.replace(/-/g, '').toLowerCase())).status, 200);
    const one = await addGenerated('one-host', ['--from', '127.0.77.7']);
    const r = await login(one, { from: '127.0.77.7' });
    assert.equal(r.status, 200, r.text);
    assert.equal((await get('/v1/task-sequences', tokenOf(r), '127.0.77.7')).status, 200);
    assert.equal((await get('/v1/task-sequences', tokenOf(r), '127.0.77.8')).status, 401, 'the token from another source');
  });

  test('scope by expiry: the token never outlives the passcode; after the expiry both stop (and --until in the past is refused)', async () => {
    const short = await addGenerated('short', ['--expires', '2s']);
    const shown = JSON.parse((await cli(['passcode', 'show', 'short', '--json'])).stdout) as { expiresAt: string };
    const r = await login(short);
    assert.equal(r.status, 200, r.text);
    const { token, expiresAt } = r.body as { token: string; expiresAt: string };
    assert.ok(Date.parse(expiresAt) <= Date.parse(shown.expiresAt), `${expiresAt} after ${shown.expiresAt}`);
    await waitFor(async () => (await get('/v1/task-sequences', token)).status === 401, 15_000, 'the token to stop');
    await waitFor(() => Date.now() > Date.parse(shown.expiresAt), 5000, 'the expiry');
    assert.deepEqual(await login(short).then((x) => ({ status: x.status, body: x.body })), wrongAnswer);
    const past = await cli(['passcode', 'add', 'past', '--generate', '--until', '2001-01-01T00:00:00Z']);
    assert.equal(past.code, 1);
    assert.match(past.stderr, /already passed/);
    const until = new Date(Date.now() + 3600_000).toISOString();
    const later = await addGenerated('until-later', ['--until', until]);
    const t = await login(later);
    assert.ok(Date.parse((t.body as { expiresAt: string }).expiresAt) <= Date.parse(until));
    assert.match((await cli(['passcode', 'list'])).stdout, /short\texpired\t/);
  });

  test('scope by uses: N logins at once across two workers, exactly N succeed; the N+1th is refused as any failure', async () => {
    const three = await addGenerated('three-uses', ['--uses', '3']);
    const results = await Promise.all(Array.from({ length: 8 }, () => login(three)));
    assert.equal(results.filter((x) => x.status === 200).length, 3, results.map((x) => x.status).join(','));
    for (const x of results.filter((y) => y.status !== 200)) assert.deepEqual({ status: x.status, body: x.body }, wrongAnswer);
    const shown = JSON.parse((await cli(['passcode', 'show', 'three-uses', '--json'])).stdout) as { usesLeft: number; uses: number; state: string; lastUsedAt: string | null };
    assert.equal(shown.usesLeft, 0);
    assert.equal(shown.uses, 3);
    assert.equal(shown.state, 'used-up');
    assert.ok(shown.lastUsedAt);
    const typedOnce = 'Typed-Once-Passcode-Willow-5';
    await addTyped('typed-once', typedOnce, ['--uses', '1']);
    assert.equal((await login(typedOnce)).status, 200);
    assert.deepEqual(await login(typedOnce).then((x) => ({ status: x.status, body: x.body })), wrongAnswer);
  });

  test('revoking kills a live token at once (on every worker), and the passcode stops signing in', async () => {
    const code = await addGenerated('to-revoke', []);
    const tokens = await Promise.all([login(code), login(code)]).then((rs) => rs.map(tokenOf));
    for (const t of tokens) assert.equal((await get('/v1/task-sequences', t)).status, 200);
    const revoked = await cli(['passcode', 'revoke', 'to-revoke']);
    assert.equal(revoked.code, 0, revoked.stderr);
    // Fresh connections land on either worker: every one refuses at once.
    for (let i = 0; i < 6; i++) for (const t of tokens) assert.equal((await get('/v1/task-sequences', t)).status, 401);
    assert.deepEqual(await login(code).then((x) => ({ status: x.status, body: x.body })), wrongAnswer);
    assert.match((await cli(['passcode', 'list'])).stdout, /to-revoke\trevoked\t/);
    const shown = await cli(['configure', 'show']);
    assert.match(shown.stdout, /^ {2}Scoped passcodes: \d+ active \((\d+ (expired|used-up), )*\d+ revoked\); see deployr passcode list$/m);
    assert.ok(!shown.stdout.includes(code));
    // The global passcode's tokens are not touched by a revocation.
    assert.equal((await get('/v1/task-sequences', tokenOf(await login(GLOBAL)))).status, 200);
  });

  test('a typed scoped passcode must differ from the global one and from the others; the typed ones are bounded', async () => {
    const same = await cli(['passcode', 'add', 'same-as-global'], `${GLOBAL}\n${GLOBAL}\n`);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /already in use/);
    const mismatch = await cli(['passcode', 'add', 'mismatch'], 'Some-Passcode-Fern-81\nOther-Passcode-Fern-82\n');
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /do not match/);
    const weak = await cli(['passcode', 'add', 'weak'], 'password\npassword\n');
    assert.equal(weak.code, 1);
    const dup = await cli(['passcode', 'add', 'site-a', '--generate']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already a scoped passcode named site-a/);
  });

  test('admin API: viewer lists and shows, admin adds (generated: in that response only) and revokes; the viewer cannot change anything', async () => {
    const root: AdminClient = await signIn(service.url, 'root', PASSWORDS.root);
    const vera: AdminClient = await signIn(service.url, 'vera', PASSWORDS.vera);
    const added = await keep(root.send('POST', '/v1/admin/passcodes', { name: 'api-made', generate: true, taskSequences: [ids.outer], maxUses: 2, expiresInSeconds: 3600 }));
    assert.equal(added.status, 201, added.text);
    const generated = (added.body as { generated: string }).generated;
    assert.match(generated, /^[2-9A-Z]{4}(-[2-9A-Z]{4}){5}$/);
    secrets.push(generated);
    assert.equal((await login(generated)).status, 200);
    const listed = await keep(vera.send('GET', '/v1/admin/passcodes'));
    assert.equal(listed.status, 200);
    const mine = (listed.body as { passcodes: { name: string; usesLeft: number; scope: { taskSequences: string[] } }[] }).passcodes.find((p) => p.name === 'api-made');
    assert.deepEqual({ usesLeft: mine?.usesLeft, ts: mine?.scope.taskSequences }, { usesLeft: 1, ts: [ids.outer] });
    assert.equal((await keep(vera.send('GET', '/v1/admin/passcodes/api-made'))).status, 200);
    assert.equal((await keep(vera.send('POST', '/v1/admin/passcodes', { name: 'by-viewer', generate: true }))).status, 403);
    assert.equal((await keep(vera.send('DELETE', '/v1/admin/passcodes/api-made'))).status, 403);
    const typed = 'Api-Typed-Passcode-Maple-6';
    const badVerify = await keep(root.send('POST', '/v1/admin/passcodes', { name: 'api-typed', passcode: typed, verify: `${typed}x` }));
    assert.equal(badVerify.status, 400);
    secrets.push(typed);
    const typedAdded = await keep(root.send('POST', '/v1/admin/passcodes', { name: 'api-typed', passcode: typed, verify: typed, sources: ['127.0.0.0/8'], context: 'boot' }));
    assert.equal(typedAdded.status, 201, typedAdded.text);
    assert.equal((typedAdded.body as { generated?: string }).generated, undefined);
    assert.equal((await login(typed, { context: 'fullos' })).status, 401, 'boot only');
    assert.equal((await login(typed)).status, 200);
    const revoked = await keep(root.send('DELETE', '/v1/admin/passcodes/api-made'));
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal((revoked.body as { state: string }).state, 'revoked');
    assert.equal((await keep(root.send('DELETE', '/v1/admin/passcodes/api-made'))).status, 404);
    const audit = jsonLines((await cli(['audit', '--kind', 'settings', '--json'])).stdout) as { method: string; reason: string; subject: string; detail: { name?: string } }[];
    assert.ok(audit.some((a) => a.method === 'scoped-passcode' && a.reason === 'scoped_passcode_added' && a.subject === 'root' && a.detail.name === 'api-made'));
    assert.ok(audit.some((a) => a.method === 'scoped-passcode' && a.reason === 'scoped_passcode_revoked' && a.detail.name === 'api-made'));
  });

  test('no scoped passcode or hash in any response, the service log, the audit trail, the store as plain text, or any argv', async () => {
    const db = new Database(join(home.home, 'deployr.db'), { readonly: true, fileMustExist: true });
    let hashes: string[];
    try {
      hashes = (db.prepare('SELECT hash FROM scoped_passcodes').pluck().all() as string[]);
    } finally {
      db.close();
    }
    assert.ok(hashes.length >= 10);
    for (const h of hashes) assert.match(h, /^\$argon2id\$/);
    const exported = await runDeployr(['audit', 'export'], { home: home.home });
    const listed = await runDeployr(['passcode', 'list', '--json'], { home: home.home });
    const haystacks: [string, string][] = [
      ['service log', service.output()], ['audit trail', exported.stdout], ['passcode list', listed.stdout],
      ['responses', responses.join('\n')], ['argv', argvs.map((a) => a.join(' ')).join('\n')],
      ['service argv', readFileSync(`/proc/${service.child.pid}/cmdline`, 'utf8')],
    ];
    // Generated passcodes are printed once by `passcode add --generate` and returned once by the API: those outputs are left out.
    const shownOnce = new Set(secrets.slice(1));
    for (const [where, text] of haystacks) {
      const scrubbed = where === 'responses' ? text.split('\n').filter((l) => ![...shownOnce].some((s) => l.includes(s) && (/^ {2}[2-9A-Z]/.test(l) || l.includes('"generated"')))).join('\n') : text;
      for (const s of secrets) assert.ok(!scrubbed.includes(s), `a scoped passcode in the ${where}`);
      for (const h of hashes) assert.ok(!text.includes(h) && !text.includes(h.split('$').at(-1) as string), `a hash in the ${where}`);
    }
  });
});
