// The bootstrap scripts as text and, for the shell one, as run by /bin/sh: the values reach the client as single arguments.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandler } from '../error-status.js';
import { powershellBootstrap, registerBootstrapRoutes, shellBootstrap, type BootstrapScriptValues } from './bootstrap.js';

const VALUES: BootstrapScriptValues = {
  server: 'https://deploy.example:7281', fingerprint: 'AB:CD:EF', tsid: '80e8121b-c426-4bb9-866e-faf06af2c398:1', client: null,
};

test('without a client bundle the shell script starts an installed deployr with the server, its pin and the task sequence as single arguments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-bootstrap-'));
  try {
    // A stand-in `deployr` that prints one argument a line.
    writeFileSync(join(dir, 'deployr'), '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n');
    chmodSync(join(dir, 'deployr'), 0o755);
    writeFileSync(join(dir, 'bootstrap.sh'), shellBootstrap(VALUES));
    const r = spawnSync('/bin/sh', [join(dir, 'bootstrap.sh'), '--var', 'Stage=one two'], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'client', '--server', 'https://deploy.example:7281', '--fingerprint', 'AB:CD:EF', '--fullos', '--ts', '80e8121b-c426-4bb9-866e-faf06af2c398:1', '--var', 'Stage=one two',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a client bundle both scripts carry its SHA-256 and download it; without a task sequence they start the chooser', () => {
  const withClient = { ...VALUES, tsid: null, client: { sha256: 'a'.repeat(64), publicKeyPin: 'cGlu' } };
  const sh = shellBootstrap(withClient);
  assert.match(sh, /^client_sha256='a{64}'$/m);
  assert.match(sh, /curl -fsS --insecure --pinnedpubkey 'sha256\/\/cGlu' -o "\$client\.part" "\$server\/v1\/Service\/Client"/);
  assert.match(sh, /exec node "\$client" client --server 'https:\/\/deploy\.example:7281' --fingerprint 'AB:CD:EF' "\$@"$/m);
  assert.doesNotMatch(sh, /--fullos|npx/);
  const ps = powershellBootstrap(withClient);
  assert.match(ps, /^ {2}\$deployrClientSha256 = 'a{64}'$/m);
  assert.match(ps, /Invoke-WebRequest -UseBasicParsing -Uri "\$deployrServer\/v1\/Service\/Client" -OutFile "\$deployrClient\.part"/);
  assert.match(ps, /Get-FileHash -Algorithm SHA256 -LiteralPath "\$deployrClient\.part"\)\.Hash -ne \$deployrClientSha256/);
  assert.match(ps, /^ {2}\$deployrArgs = @\('client', '--server', 'https:\/\/deploy\.example:7281', '--fingerprint', 'AB:CD:EF'\)$/m);
  assert.match(ps, /^& \{$[\s\S]*^\} @args$/m, 'a script block keeps iex from leaving variables behind');
  assert.doesNotMatch(ps, /--fullos|npx|SkipCertificateCheck/);
});

test('the downloading shell script stops with one line when it has nowhere to keep the client (no HOME, no DEPLOYR_CLIENT_DIR)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-bootstrap-'));
  try {
    writeFileSync(join(dir, 'bootstrap.sh'), shellBootstrap({ ...VALUES, client: { sha256: 'a'.repeat(64), publicKeyPin: 'cGlu' } }));
    const r = spawnSync('/bin/sh', [join(dir, 'bootstrap.sh')], { env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` }, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'deployr bootstrap: HOME is not set: set DEPLOYR_CLIENT_DIR to a folder for the client.\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the downloading shell script stops with one line on a machine whose Node.js is older than 20', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deployr-bootstrap-'));
  try {
    // A stand-in `node` 18: `node -e …` fails the version check, `node --version` says which.
    writeFileSync(join(dir, 'node'), '#!/bin/sh\nif [ "$1" = "--version" ]; then echo v18.19.0; exit 0; fi\nexit 1\n');
    chmodSync(join(dir, 'node'), 0o755);
    writeFileSync(join(dir, 'bootstrap.sh'), shellBootstrap({ ...VALUES, client: { sha256: 'a'.repeat(64), publicKeyPin: 'cGlu' } }));
    const r = spawnSync('/bin/sh', [join(dir, 'bootstrap.sh')], { env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir }, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'deployr bootstrap: Node.js 20 or later is needed; this machine has v18.19.0.\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a service without a client bundle answers GET /v1/Service/Client with 404 NOT_FOUND and hands out the installed-deployr script', async () => {
  const app = Fastify() as unknown as FastifyInstance;
  installErrorHandler(app);
  registerBootstrapRoutes(app, { fingerprint: 'AB:CD:EF', publicKeyPin: 'cGlu', clientBundle: null });
  try {
    const client = await app.inject({ method: 'GET', url: '/v1/Service/Client' });
    assert.equal(client.statusCode, 404);
    assert.equal((client.json() as { error: { code: string } }).error.code, 'NOT_FOUND');
    const script = await app.inject({ method: 'GET', url: '/v1/Service/Bootstrap', headers: { host: 'deploy.example:7281' } });
    assert.equal(script.statusCode, 200);
    assert.match(script.body, /exec npx --no-install deployr client --server 'https:\/\/deploy\.example:7281' --fingerprint 'AB:CD:EF' "\$@"/);
    assert.doesNotMatch(script.body, /curl/);
    // PowerShell's `irm` names itself in its user agent: it gets the PowerShell script unless ?shell=sh says otherwise.
    for (const agent of ['Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.19045; en-US) PowerShell/7.4.6', 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.5247']) {
      const ps = await app.inject({ method: 'GET', url: '/v1/Service/Bootstrap', headers: { host: 'deploy.example:7281', 'user-agent': agent } });
      assert.match(ps.body, /^\$deployrArgs = @\('client'/m, agent);
      const sh = await app.inject({ method: 'GET', url: '/v1/Service/Bootstrap?shell=sh', headers: { host: 'deploy.example:7281', 'user-agent': agent } });
      assert.match(sh.body, /^#!\/bin\/sh/);
    }
    const curl = await app.inject({ method: 'GET', url: '/v1/Service/Bootstrap', headers: { host: 'deploy.example:7281', 'user-agent': 'curl/7.88.1' } });
    assert.match(curl.body, /^#!\/bin\/sh/);
  } finally {
    await app.close();
  }
});
