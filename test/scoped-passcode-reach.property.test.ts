// Property: whatever the task sequence graph and the scope, a scoped passcode's token never may more than the global passcode's, nor step outside its scope (real SQLite store, the real login service and use cases).
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ScopedPasscodes } from '../src/auth/scoped-passcodes.js';
import { cidrContains, parseCidr } from '../src/domain/cidr.js';
import { isDeployrError } from '../src/domain/errors.js';
import type { Principal } from '../src/domain/principal.js';
import type { AuthContext } from '../src/domain/security-settings.js';
import { RunRegistry } from '../src/engine/run-registry.js';
import { TaskSequenceCatalog } from '../src/engine/task-sequence-catalog.js';
import { TokenReach } from '../src/engine/token-reach.js';
import { securityFixture, source } from './helpers/security-fixture.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const RUN_TS = '00000001-0000-0000-0000-00000000000d';
const COMMAND = '00000002-0000-0000-0000-000000000001';
const ACTOR = { subject: 'admin', source: null };
const GLOBAL = 'Global-Passcode-Property-Cedar-2026';
const ADDRESSES = ['10.1.2.3', '192.168.5.6', '127.0.0.1', '::1'];
const RANGES = ['10.0.0.0/8', '192.168.5.0/24', '127.0.0.1', '::1/128', '172.16.0.0/12'];

const cases = fc.integer({ min: 1, max: 6 }).chain((n) => fc.record({
  n: fc.constant(n),
  // Each task sequence: the indices it runs (n: one that does not exist), and whether it has an Inactive version 2.
  runs: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: n }), { maxLength: 3 }), { minLength: n, maxLength: n }),
  second: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  // The scope: task sequences (index, version or null), sources, context.
  scopeTs: fc.uniqueArray(fc.record({ i: fc.integer({ min: 0, max: n - 1 }), version: fc.constantFrom(null, 1, 2) }), { maxLength: 3, selector: (e) => e.i }),
  sources: fc.uniqueArray(fc.constantFrom(...RANGES), { maxLength: 2 }),
  context: fc.constantFrom<AuthContext | null>(null, 'boot', 'fullos'),
  // The login: its context, its address, and (full OS) the task sequence it names.
  loginContext: fc.constantFrom<AuthContext>('boot', 'fullos'),
  address: fc.constantFrom(...ADDRESSES),
  named: fc.option(fc.integer({ min: 0, max: n - 1 }), { nil: null }),
  typed: fc.boolean(),
}));

test('a scoped passcode never widens what a token may do', async () => {
  const f = await securityFixture({ passcode: GLOBAL, policy: { freeFailures: 1_000_000, addressFreeFailures: 1_000_000, globalAlertThreshold: 1_000_000 } });
  const store = f.store;
  const catalog = new TaskSequenceCatalog(store);
  const reach = new TokenReach(store);
  const registry = new RunRegistry({ store });
  const passcodes = new ScopedPasscodes(store, f.hasher, () => new Date(f.clock.now));
  let counter = 0;
  try {
    await fc.assert(fc.asyncProperty(cases, async (c) => {
      counter += 1;
      const tsIds = Array.from({ length: c.n + 1 }, () => randomUUID());
      for (let i = 0; i < c.n; i += 1) {
        const steps = (): Json[] => [step('Echo', COMMAND, { CommandLine: 'echo' }), ...c.runs[i]!.map((child) => step(`Run ${child}`, RUN_TS, { childTaskSequenceId: `${tsIds[child]!}:1` }))];
        const doc = taskSequence(`TS ${i}`, steps(), { id: tsIds[i]! });
        if (c.second[i]) (doc.versions as Json[]).push({ ...(taskSequence(`TS ${i}`, steps(), { id: tsIds[i]!, status: 'Inactive' }) as { versions: Json[] }).versions[0]!, versionNo: 2 });
        await catalog.importExport(doc, ACTOR);
      }
      const scopeTs = c.scopeTs.filter((e) => e.version !== 2 || c.second[e.i]);
      const name = `p${counter}`;
      const typedPasscode = `Typed-Scoped-Property-${counter}-Fern`;
      const added = await passcodes.add({
        name, ...(c.typed ? { passcode: typedPasscode } : { generate: true }),
        taskSequences: scopeTs.map((e) => (e.version === null ? tsIds[e.i]! : `${tsIds[e.i]!}:${e.version}`)),
        sources: c.sources, expiresInSeconds: 600, ...(c.context ? { context: c.context } : {}),
      }, ACTOR);
      const secret = c.typed ? typedPasscode : added.generated!;
      const from = source(c.address, `dev-${counter}`);
      const named = c.loginContext === 'fullos' && c.named !== null ? `${tsIds[c.named]!}:1` : null;
      const tryLogin = (passcode: string) => f.login.loginWithPasscode({ passcode, context: c.loginContext, taskSequence: named, source: from })
        .then((t) => f.login.authenticate(t.token, () => null, () => c.address), (err: unknown) => { assert.ok(isDeployrError(err, 'AUTH_FAILED'), String(err)); return null; });
      const scoped = await tryLogin(secret);
      const global = await tryLogin(GLOBAL);
      assert.ok(global, 'the global passcode signs in');
      try {
        // When does a scoped login succeed at all: its sources, its context, and a named task sequence inside the scope.
        const inSources = c.sources.length === 0 || c.sources.some((r) => cidrContains(parseCidr(r), c.address));
        const inContext = c.context === null || c.context === c.loginContext;
        const namedInScope = named === null || scopeTs.length === 0 || scopeTs.some((e) => tsIds[e.i] === tsIds[c.named!]);
        assert.equal(scoped !== null, inSources && inContext && namedInScope, `login: sources ${inSources}, context ${inContext}, named ${namedInScope}`);
        if (scoped === null) return;
        assert.ok(scoped.expiresAt * 1000 <= f.clock.now + 600_000, 'the token does not outlive the passcode');
        assert.equal(scoped.subject, `passcode:${name}`);

        // A full-OS start that names a task sequence of the scope gets a token for that one alone.
        const effective = named !== null && scopeTs.length > 0 ? scopeTs.filter((e) => e.i === c.named) : scopeTs;
        const scopeIds = new Set(effective.map((e) => tsIds[e.i]!));
        // The model of the closure: the scope's task sequences and every one they run.
        const closure = new Set<number>();
        const queue = effective.map((e) => e.i);
        while (queue.length > 0) { const i = queue.shift()!; if (closure.has(i)) continue; closure.add(i); queue.push(...(c.runs[i] ?? [])); }
        const mayRead = (p: Principal, i: number) => catalog.get(tsIds[i]!, p).then(() => true, () => false);
        const mayRegister = (p: Principal, i: number, versionNo: number) =>
          registry.register(p, { taskSequenceId: tsIds[i]!, versionNo, deviceId: 'PC' }, { address: null }).then(() => true, () => false);
        for (let i = 0; i <= c.n; i += 1) {
          const s = await mayRead(scoped, i);
          assert.ok(!s || (await mayRead(global, i)), `scoped reads task sequence ${i}, global does not`);
          if (effective.length > 0) assert.ok(!s || closure.has(i), `task sequence ${i} outside the closure`);
          assert.equal(await reach.mayReadTaskSequence(scoped, tsIds[i]!), effective.length === 0 || closure.has(i), `reach of task sequence ${i}`);
          for (const versionNo of [1, 2]) {
            const r = await mayRegister(scoped, i, versionNo);
            assert.ok(!r || (await mayRegister(global, i, versionNo)), `scoped runs ${i}:${versionNo}, global does not`);
            if (effective.length > 0 && r) {
              assert.ok(scopeIds.has(tsIds[i]!), `a run of ${i}, not in the scope`);
              assert.ok(effective.some((e) => e.i === i && (e.version === null || e.version === versionNo)), `a run of version ${versionNo}`);
            }
          }
        }
      } finally {
        await passcodes.revoke(name, ACTOR);
        // Revoked: the token is refused at once.
        const again = await f.login.loginWithPasscode({ passcode: secret, context: c.loginContext, taskSequence: named, source: from }).then(() => true, () => false);
        assert.equal(again, false, 'a revoked passcode signs in');
      }
    }), { numRuns: 40 });
  } finally {
    await f.close();
  }
});
