// End to end: a configured TLS certificate (from a test CA) replaces the self-signed pair; clients trust it through the CA.

import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runDeployr, startService, tempHome } from './helpers/deployr-process.js';
import { createTestPki } from './helpers/pki.js';

test('serve --tls-cert/--tls-key serves the configured certificate, prints its fingerprint and makes no self-signed pair', async (t) => {
  const { home, cleanup } = tempHome();
  t.after(cleanup);
  const pki = await createTestPki();
  const server = await pki.issueServer({ names: ['localhost', '127.0.0.1'] });
  const certFile = join(home, 'configured.crt');
  const keyFile = join(home, 'configured.key');
  const caFile = join(home, 'root.crt');
  writeFileSync(certFile, server.certPem);
  writeFileSync(keyFile, server.keyPem, { mode: 0o600 });
  writeFileSync(caFile, pki.root.certPem);
  const svc = await startService({ home, args: ['--tls-cert', certFile, '--tls-key', keyFile] });
  t.after(() => svc.stop());
  assert.equal(svc.fingerprint, new X509Certificate(server.certPem).fingerprint256);
  assert.equal(existsSync(join(home, 'tls', 'server.crt')), false, 'no self-signed certificate was made');
  const r = await runDeployr(['client', '--server', svc.url, '--ca', caFile], { input: '' });
  assert.match(r.stdout, /no authentication method configured/, 'the client got through TLS to the method list');
  const otherCa = join(home, 'other.crt');
  writeFileSync(otherCa, pki.otherCa.certPem);
  const other = await runDeployr(['client', '--server', svc.url, '--ca', otherCa], { input: '' });
  assert.equal(other.code, 3, 'a CA that did not issue the server certificate is not trusted');
  assert.match(other.stderr, /not trusted/);
});
