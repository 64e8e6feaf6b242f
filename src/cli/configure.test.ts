// Unit tests for the configure menu: every `configure security` flag is reachable from it, and its answers become the same changes as the flags.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { SecurityChange } from '../auth/security-admin.js';
import type { Prompter } from '../client/prompt.js';
import { SECURITY_MENU, configureInteractive, type ConfigureDeps } from './configure.js';

const DEPLOYR_BIN = fileURLToPath(new URL('../bin/deployr.js', import.meta.url));

test('the security menu offers every flag of deployr configure security', () => {
  const help = spawnSync(process.execPath, [DEPLOYR_BIN, 'configure', 'security', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  const flags = [...new Set([...help.stdout.matchAll(/--[a-z][a-z-]+/g)].map((m) => m[0]))].filter((f) => !['--help', '--home', '--local-port', '--database', '--content-dir'].includes(f));
  assert.ok(flags.length >= 15, flags.join(' '));
  const offered = SECURITY_MENU.map((m) => m.hint ?? '').join(' ');
  for (const flag of flags) assert.ok(offered.includes(flag), `the menu offers ${flag}`);
});

test('menu answers become changes: rotation, reminder, Entra ID and certificate trust, saved once confirmed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-menu-'));
  try {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const choices = ['security', 'overlap', 'security', 'remind-after', 'security', 'entra', 'security', 'cert', 'review', 'quit'];
    const lines = ['2h', '90d', '3f2a7c1e-9b4d-4e8a-a1c2-5d6e7f8a9b0c', '8b1c2d3e-4f5a-4b6c-9d7e-0f1a2b3c4d5e', 'Deployers', '', ca, 'CN=pc-*', '', ''];
    const out: string[] = [];
    let saved: SecurityChange[] = [];
    const prompter: Prompter = {
      interactive: true,
      secret: async () => null,
      line: async () => lines.shift() ?? null,
      choose: (async () => choices.shift() ?? null) as Prompter['choose'],
      confirm: async (label: string) => !/clientAuth/.test(label) || false,
      close: () => {},
      quiet: () => ({ release: () => false }),
    } as Prompter;
    const deps = {
      prompter, io: { out: (l: string) => out.push(l), err: (l: string) => out.push(l) }, localPort: 1,
      admin: { apply: async (changes: SecurityChange[]) => { saved = [...changes]; return { revision: 7, warnings: [] }; } },
      readSettings: async () => { throw new Error('not used'); }, serviceStatus: async () => null,
    } as unknown as ConfigureDeps;
    assert.equal(await configureInteractive(deps), 0);
    assert.deepEqual(saved.map((c) => c.kind), ['rotation', 'rotation', 'entra', 'certificate']);
    assert.deepEqual(saved[0], { kind: 'rotation', overlapSeconds: 7200 });
    assert.deepEqual(saved[1], { kind: 'rotation', remindAfterSeconds: 90 * 86400 });
    assert.deepEqual(saved[2], { kind: 'entra', entra: { tenantId: '3f2a7c1e-9b4d-4e8a-a1c2-5d6e7f8a9b0c', clientId: '8b1c2d3e-4f5a-4b6c-9d7e-0f1a2b3c4d5e', role: 'Deployers' } });
    assert.equal((saved[3] as { certificate: { subjectPattern?: string; requireClientAuthEku: boolean } }).certificate.subjectPattern, 'CN=pc-*');
    assert.ok(out.includes('  - Rotation overlap 2 hours'), out.join('\n'));
    assert.ok(out.includes('  - Passcode reminder after 90 days'), out.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
