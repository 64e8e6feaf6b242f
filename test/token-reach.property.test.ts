// Property: whatever the task sequence graph, a token limited to one task sequence never reads outside its closure (real SQLite store, the engine's use cases).
import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ContentItem } from '../src/domain/content-item.js';
import { isDeployrError } from '../src/domain/errors.js';
import type { Principal } from '../src/domain/principal.js';
import { RunRegistry } from '../src/engine/run-registry.js';
import { TaskSequenceCatalog } from '../src/engine/task-sequence-catalog.js';
import { TokenReach } from '../src/engine/token-reach.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { step, taskSequence, type Json } from './helpers/task-sequence-json.js';

const RUN_TS = '00000001-0000-0000-0000-00000000000d';
const COMMAND = '00000002-0000-0000-0000-000000000001';
const ACTOR = { subject: 'admin', source: null };

/** A random graph: task sequences that run others (possibly missing ones, possibly in cycles) and reference content items. */
const graphs = fc.integer({ min: 1, max: 7 }).chain((n) => fc.integer({ min: 0, max: 6 }).chain((m) => fc.record({
  n: fc.constant(n),
  m: fc.constant(m),
  // Each task sequence: the indices it runs (n means a task sequence that does not exist), and the content items its steps use.
  runs: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: n }), { maxLength: 3 }), { minLength: n, maxLength: n }),
  uses: fc.array(fc.uniqueArray(fc.integer({ min: 0, max: Math.max(0, m - 1) }), { maxLength: m === 0 ? 0 : 3 }), { minLength: n, maxLength: n }),
  // Nest some Run task sequence steps in groups, and give some task sequences a second version with other edges.
  nested: fc.boolean(),
  limit: fc.integer({ min: 0, max: n - 1 }),
  withVersion: fc.boolean(),
})));

function principal(limit: string, tokenId: string): Principal {
  return { method: 'passcode', subject: 'passcode', context: 'fullos', taskSequenceLimit: limit, certificateThumbprint: null, tokenId, expiresAt: 4_000_000_000 };
}

test('a limited token never reads a task sequence, content item, file or run outside its closure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-reach-'));
  const store = openSqliteStore(join(dir, 'deployr.db'), Buffer.alloc(32, 7));
  const catalog = new TaskSequenceCatalog(store);
  const reach = new TokenReach(store);
  const registry = new RunRegistry({ store });
  try {
    await fc.assert(fc.asyncProperty(graphs, async (g) => {
      // Fresh ids per case: one store serves every case, and no case can see another's entities in its closure.
      const tsIds = Array.from({ length: g.n + 1 }, () => randomUUID());
      const items: ContentItem[] = Array.from({ length: g.m }, (_, i) => ({
        id: randomUUID(), name: `item ${i}`, description: null, contentItemPurpose: 'Other', type: 'SingleFile', tags: [], createdDate: 1, lastModifiedDate: 1,
        versions: [{ versionNo: 1, status: 'Active', description: null, installationCommandLine: null, driverManufacturer: null, driverModel: null, createdDate: 1, lastModifiedDate: 1, files: [{ path: 'f.bin', size: 1, sha256: randomBytes(32).toString('hex') }] }],
      }) as unknown as ContentItem);
      for (const item of items) await store.putContentItem(item, { kind: 'content', method: 'create', result: 'created', reason: 'ok', subject: 'admin', source: null, device: null, detail: {} }, null);
      for (let i = 0; i < g.n; i += 1) {
        const runSteps: Json[] = g.runs[i]!.map((child) => step(`Run ${child}`, RUN_TS, { childTaskSequenceId: `${tsIds[child]!}:1` }));
        const useSteps: Json[] = g.uses[i]!.map((item) => step(`Use ${item}`, COMMAND, { commandLine: 'true' }, { contentItems: { content: `${items[item]!.id}:1` } }));
        // With a second version, the last edge and the last content use move to it (an inactive version still counts).
        const later = g.withVersion ? [...runSteps.splice(-1), ...useSteps.splice(-1)] : [];
        const steps = g.nested ? [step('Group', null, {}, { isGroup: true, groupMembers: runSteps, stepDefinitionVersionNo: null }), ...useSteps] : [...runSteps, ...useSteps];
        const doc = taskSequence(`TS ${i}`, steps, { id: tsIds[i]! });
        if (g.withVersion) {
          const second = taskSequence(`TS ${i}`, later, { id: tsIds[i]!, status: 'Inactive' }) as { versions: Json[] };
          (doc.versions as Json[]).push({ ...second.versions[0]!, versionNo: 2 });
        }
        await catalog.importExport(doc, ACTOR);
      }

      // The model: breadth-first over the generated edges (index n does not exist).
      const closure = new Set<number>([g.limit]);
      const queue = [g.limit];
      while (queue.length > 0) for (const child of g.runs[queue.shift()!] ?? []) if (!closure.has(child)) { closure.add(child); queue.push(child); }
      const reachable = new Set<number>([...closure].filter((i) => i < g.n).flatMap((i) => g.uses[i]!));

      const me = principal(`${tsIds[g.limit]!}:1`, randomUUID());
      for (let i = 0; i < g.n; i += 1) {
        const read = await catalog.get(tsIds[i]!, me).then(() => true, (err: unknown) => { assert.ok(isDeployrError(err, 'NOT_FOUND')); return false; });
        assert.equal(read, closure.has(i), `task sequence ${i} (limit ${g.limit})`);
      }
      assert.deepEqual((await catalog.list(me)).map((o) => o.id), [tsIds[g.limit]], 'the list shows only the named one');
      for (let j = 0; j < g.m; j += 1) {
        assert.equal(await reach.mayReadContentItem(me, items[j]!.id), reachable.has(j), `content item ${j}`);
        assert.equal(await reach.mayReadBlob(me, items[j]!.versions[0]!.files[0]!.sha256), reachable.has(j), `file of content item ${j}`);
      }
      const listed = new Set((await reach.filterContentItems(me, await store.listContentItems())).map((c) => c.id));
      assert.deepEqual([...listed].sort(), [...reachable].map((j) => items[j]!.id).sort());
      assert.equal(await reach.mayReadBlob(me, randomBytes(32).toString('hex')), false);

      // Runs: its own only, not those of another token limited to the same task sequence.
      const other = principal(`${tsIds[g.limit]!}:1`, randomUUID());
      const mine = await registry.register(me, { taskSequenceId: tsIds[g.limit]!, versionNo: 1, deviceId: 'PC-1' }, { address: null });
      const theirs = await registry.register(other, { taskSequenceId: tsIds[g.limit]!, versionNo: 1, deviceId: 'PC-2' }, { address: null });
      assert.deepEqual((await registry.list(me)).map((r) => r.id), [mine.id]);
      await assert.rejects(registry.get(me, theirs.id), (err: unknown) => isDeployrError(err, 'NOT_FOUND'));
      await assert.rejects(registry.log(me, theirs.id), (err: unknown) => isDeployrError(err, 'NOT_FOUND'));
      assert.equal((await registry.get(me, mine.id)).id, mine.id);
    }), { numRuns: 60 });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
