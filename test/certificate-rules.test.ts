// Client-certificate rules over real mutual TLS: node:https server + clients with certificates from a test PKI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IssuedCertificate, TestPki } from './helpers/pki.js';
import { createTestPki } from './helpers/pki.js';
import type { CertificateEvaluation, CertificateTrust } from '../src/auth/certificate-rules.js';
import {
  certificateThumbprint, evaluatePeerCertificate, parseCaBundle, thumbprintToCnf,
} from '../src/auth/certificate-rules.js';
import { buildClientCertTlsOptions, watchCrl } from '../src/auth/tls-trust.js';
import { isDeployrError } from '../src/domain/errors.js';

type TestContext = { after: (fn: () => void | Promise<void>) => void };
interface Answer { result: CertificateEvaluation; authorized: boolean; authorizationError: string | null; resumed: boolean }

let pki: TestPki;
let serverCert: IssuedCertificate;
let tmp: string;

before(async () => {
  pki = await createTestPki();
  serverCert = await pki.issueServer({ names: ['localhost', '127.0.0.1'] });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deployr-cert-'));
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function trustFor(overrides: Partial<CertificateTrust> = {}): CertificateTrust {
  return { caPem: pki.root.certPem, requireClientAuthEku: true, ...overrides };
}

/** Starts an HTTPS server on 127.0.0.1 whose handler answers evaluatePeerCertificate's verdict. */
async function startServer(
  t: TestContext,
  trust: CertificateTrust,
  contextTrust: CertificateTrust | null = trust,
): Promise<{ server: https.Server; port: number; trust: CertificateTrust }> {
  const state = { trust };
  const server = https.createServer(
    { key: serverCert.keyPem, cert: serverCert.certPem, ...buildClientCertTlsOptions(contextTrust) },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const result = evaluatePeerCertificate(
        { authorized: socket.authorized, authorizationError: socket.authorizationError, peer: socket.getPeerX509Certificate() },
        state.trust,
      );
      const authorizationError = (socket.authorizationError as unknown as string | undefined) ?? null;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ result, authorized: socket.authorized, authorizationError, resumed: socket.isSessionReused() }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { server, port: (server.address() as AddressInfo).port, trust };
}

/** One request on a fresh connection (no agent, so no TLS session reuse) unless an agent is given. */
function call(port: number, client?: { cert: string; key: string }, agent?: https.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/v1/auth/certificate', method: 'POST',
      ca: pki.root.certPem, agent: agent ?? false, ...(client ?? {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(JSON.parse(body) as Answer));
    });
    req.on('error', reject);
    req.end();
  });
}

const withChain = (c: IssuedCertificate) => ({ cert: c.chainPem, key: c.keyPem });
const leafOnly = (c: IssuedCertificate) => ({ cert: c.certPem, key: c.keyPem });

test('a good client certificate from the root authenticates, with the helper\'s thumbprint', async (t) => {
  const { port } = await startServer(t, trustFor());
  const client = await pki.issueClient({ cn: 'machine-042.contoso.test' });
  const answer = await call(port, withChain(client));
  assert.deepEqual(answer.result, { ok: true, subject: 'CN=machine-042.contoso.test', thumbprint: client.thumbprint });
});

test('a good client certificate from the intermediate authenticates when the client sends the chain', async (t) => {
  const { port } = await startServer(t, trustFor());
  const client = await pki.issueClient({ cn: 'machine-043.contoso.test', issuer: 'intermediate' });
  const answer = await call(port, withChain(client));
  assert.deepEqual(answer.result, { ok: true, subject: 'CN=machine-043.contoso.test', thumbprint: client.thumbprint });
});

test('no client certificate → cert_missing (the TLS handshake still succeeds)', async (t) => {
  const { port } = await startServer(t, trustFor());
  const answer = await call(port);
  assert.deepEqual(answer.result, { ok: false, reason: 'cert_missing' });
  assert.equal(answer.authorized, false);
  assert.equal(answer.authorizationError, 'UNABLE_TO_GET_ISSUER_CERT');
});

test('expired and not-yet-valid certificates are refused with their own reasons', async (t) => {
  const { port } = await startServer(t, trustFor());
  const expired = await pki.issueClient({ cn: 'old.contoso.test', notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  const future = await pki.issueClient({ cn: 'new.contoso.test', notBefore: new Date(Date.now() + 86_400_000), notAfter: new Date(Date.now() + 3 * 86_400_000) });
  const a = await call(port, withChain(expired));
  assert.deepEqual(a.result, { ok: false, reason: 'cert_expired' });
  assert.equal(a.authorizationError, 'CERT_HAS_EXPIRED');
  const b = await call(port, withChain(future));
  assert.deepEqual(b.result, { ok: false, reason: 'cert_not_yet_valid' });
  assert.equal(b.authorizationError, 'CERT_NOT_YET_VALID');
});

test('a certificate from another CA → cert_untrusted (with or without its CA, or self-signed)', async (t) => {
  const { port } = await startServer(t, trustFor());
  const stranger = await pki.issueClient({ cn: 'machine-042.contoso.test', issuer: 'other' });
  const alone = await call(port, leafOnly(stranger));
  assert.deepEqual(alone.result, { ok: false, reason: 'cert_untrusted' });
  assert.equal(alone.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  const withItsCa = await call(port, { cert: stranger.certPem + pki.otherCa.certPem, key: stranger.keyPem });
  assert.deepEqual(withItsCa.result, { ok: false, reason: 'cert_untrusted' });
  assert.equal(withItsCa.authorizationError, 'SELF_SIGNED_CERT_IN_CHAIN');
  // OpenSSL reports only its last error: for these the chain check itself decides the reason.
  const selfSigned = await call(port, { cert: pki.otherCa.certPem, key: pki.otherCa.keyPem });
  assert.deepEqual(selfSigned.result, { ok: false, reason: 'cert_untrusted' });
  assert.equal(selfSigned.authorizationError, 'INVALID_PURPOSE');
  const expiredStranger = await pki.issueClient({ cn: 'old.contoso.test', issuer: 'other', notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  const expired = await call(port, withChain(expiredStranger));
  assert.deepEqual(expired.result, { ok: false, reason: 'cert_untrusted' });
  assert.equal(expired.authorizationError, 'CERT_HAS_EXPIRED');
});

test('the chain is checked against the trust given to evaluatePeerCertificate, not only the TLS context', async (t) => {
  // A connection verified before the CA bundle changed: the socket says authorized, the new trust does not.
  const stale = await startServer(t, trustFor());
  const client = await pki.issueClient({ cn: 'machine-056.contoso.test', issuer: 'intermediate' });
  assert.equal((await call(stale.port, withChain(client))).result.ok, true);
  stale.trust.caPem = pki.otherCa.certPem; // the object the handler evaluates with
  const answer = await call(stale.port, withChain(client));
  assert.equal(answer.authorized, true);
  assert.deepEqual(answer.result, { ok: false, reason: 'cert_untrusted' });
});

test('a bundle holding the intermediate accepts its leaves sent alone', async (t) => {
  const { port } = await startServer(t, trustFor({ caPem: pki.root.certPem + pki.intermediate.certPem }));
  const client = await pki.issueClient({ cn: 'machine-057.contoso.test', issuer: 'intermediate' });
  assert.deepEqual((await call(port, leafOnly(client))).result, { ok: true, subject: 'CN=machine-057.contoso.test', thumbprint: client.thumbprint });
});

test('an intermediate-issued leaf sent without the intermediate (bundle holds only the root) → cert_untrusted', async (t) => {
  const { port } = await startServer(t, trustFor());
  const client = await pki.issueClient({ cn: 'machine-044.contoso.test', issuer: 'intermediate' });
  const answer = await call(port, leafOnly(client));
  assert.deepEqual(answer.result, { ok: false, reason: 'cert_untrusted' });
  // The same code as a leaf from an unknown CA: OpenSSL cannot tell "missing intermediate" apart.
  assert.equal(answer.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('a serverAuth-only certificate → cert_no_client_auth_eku (refused by OpenSSL\'s purpose check)', async (t) => {
  const { port } = await startServer(t, trustFor());
  const client = await pki.issueClient({ cn: 'machine-045.contoso.test', eku: 'serverAuth' });
  const answer = await call(port, withChain(client));
  assert.deepEqual(answer.result, { ok: false, reason: 'cert_no_client_auth_eku' });
  assert.equal(answer.authorizationError, 'INVALID_PURPOSE');
});

test('a certificate without any EKU passes TLS but fails requireClientAuthEku; allowed when not required', async (t) => {
  const strict = await startServer(t, trustFor());
  const lax = await startServer(t, trustFor({ requireClientAuthEku: false }));
  const client = await pki.issueClient({ cn: 'machine-046.contoso.test', eku: 'none' });
  const a = await call(strict.port, withChain(client));
  assert.equal(a.authorized, true);
  assert.deepEqual(a.result, { ok: false, reason: 'cert_no_client_auth_eku' });
  const b = await call(lax.port, withChain(client));
  assert.deepEqual(b.result, { ok: true, subject: 'CN=machine-046.contoso.test', thumbprint: client.thumbprint });
});

test('a certificate revoked in the CRL → cert_revoked; others from the same CA still pass', async (t) => {
  const revoked = await pki.issueClient({ cn: 'stolen.contoso.test' });
  const good = await pki.issueClient({ cn: 'machine-047.contoso.test' });
  const crlPath = path.join(tmp, 'revoked.crl');
  fs.writeFileSync(crlPath, await pki.crl([revoked.serialNumber], 'root'));
  const { port } = await startServer(t, trustFor({ crlPath }));
  const a = await call(port, withChain(revoked));
  assert.deepEqual(a.result, { ok: false, reason: 'cert_revoked' });
  assert.equal(a.authorizationError, 'CERT_REVOKED');
  assert.equal((await call(port, withChain(good))).result.ok, true);
});

test('with a CRL configured, every CA in the chain needs its own CRL in the file', async (t) => {
  const client = await pki.issueClient({ cn: 'machine-048.contoso.test', issuer: 'intermediate' });
  const rootOnly = path.join(tmp, 'root-only.crl');
  const both = path.join(tmp, 'both.crl');
  const rootCrl = await pki.crl([], 'root');
  fs.writeFileSync(rootOnly, rootCrl);
  fs.writeFileSync(both, rootCrl + (await pki.crl([], 'intermediate')));
  const missing = await startServer(t, trustFor({ crlPath: rootOnly }));
  const a = await call(missing.port, withChain(client));
  assert.deepEqual(a.result, { ok: false, reason: 'cert_untrusted' });
  assert.equal(a.authorizationError, 'UNABLE_TO_GET_CRL');
  const complete = await startServer(t, trustFor({ crlPath: both }));
  assert.equal((await call(complete.port, withChain(client))).result.ok, true);
});

test('subject and SAN patterns: a mismatch → cert_subject_mismatch', async (t) => {
  const bySubject = await startServer(t, trustFor({ subjectPattern: '*.contoso.test' }));
  const bySan = await startServer(t, trustFor({ sanPattern: '**.fleet.contoso.test' }));
  const inside = await pki.issueClient({ cn: 'machine-049.contoso.test', sans: [{ type: 'dns', value: 'pc-1.lab.fleet.contoso.test' }] });
  const deeper = await pki.issueClient({ cn: 'machine-050.evil.contoso.test' });
  const outside = await pki.issueClient({ cn: 'machine-051.fabrikam.test', sans: [{ type: 'dns', value: 'pc-2.fabrikam.test' }, { type: 'email', value: 'x@fleet.contoso.test' }] });

  assert.equal((await call(bySubject.port, withChain(inside))).result.ok, true);
  assert.deepEqual((await call(bySubject.port, withChain(deeper))).result, { ok: false, reason: 'cert_subject_mismatch' });
  assert.deepEqual((await call(bySubject.port, withChain(outside))).result, { ok: false, reason: 'cert_subject_mismatch' });
  assert.equal((await call(bySan.port, withChain(inside))).result.ok, true);
  assert.deepEqual((await call(bySan.port, withChain(outside))).result, { ok: false, reason: 'cert_subject_mismatch' });
  assert.deepEqual((await call(bySan.port, withChain(deeper))).result, { ok: false, reason: 'cert_subject_mismatch' });
});

test('a CRL changed on disk is applied with setSecureContext, without a restart', async (t) => {
  const victim = await pki.issueClient({ cn: 'machine-052.contoso.test' });
  const crlPath = path.join(tmp, 'live.crl');
  fs.writeFileSync(crlPath, await pki.crl([], 'root'));
  const trust = trustFor({ crlPath });
  const { server, port } = await startServer(t, trust);
  const resumingAgent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
  t.after(() => resumingAgent.destroy());

  assert.equal((await call(port, withChain(victim))).result.ok, true);
  assert.equal((await call(port, withChain(victim), resumingAgent)).result.ok, true);
  const resumedBefore = await call(port, withChain(victim), resumingAgent);
  assert.equal(resumedBefore.resumed, true, 'the agent resumes TLS sessions');
  assert.equal(resumedBefore.result.ok, true);

  const reloaded = new Promise<void>((resolve) => {
    const stop = watchCrl(crlPath, () => {
      server.setSecureContext({ key: serverCert.keyPem, cert: serverCert.certPem, ...buildClientCertTlsOptions(trust) });
      stop();
      resolve();
    });
  });
  // A different size guarantees the poller sees the change even within one mtime tick.
  fs.writeFileSync(crlPath, await pki.crl([victim.serialNumber, 'ABCDEF01'], 'root'));
  await reloaded;

  const fresh = await call(port, withChain(victim));
  assert.deepEqual(fresh.result, { ok: false, reason: 'cert_revoked' });
  // A client offering a session ticket from before the change gets a full handshake: the new
  // context has new ticket keys, so the revocation cannot be skipped by resumption.
  const resumed = await call(port, withChain(victim), resumingAgent);
  assert.equal(resumed.resumed, false);
  assert.deepEqual(resumed.result, { ok: false, reason: 'cert_revoked' });
});

test('with certificate trust off (null) the TLS context trusts no CA (empty list, not the default roots)', async (t) => {
  const { port } = await startServer(t, trustFor(), null);
  const client = await pki.issueClient({ cn: 'machine-058.contoso.test' });
  const answer = await call(port, withChain(client));
  assert.equal(answer.authorized, false);
  assert.equal(answer.result.ok, false);
});

test('buildClientCertTlsOptions: no trust → empty CA list; unreadable or empty CRL file → INVALID_INPUT', () => {
  assert.deepEqual(buildClientCertTlsOptions(null), { requestCert: true, rejectUnauthorized: false, ca: [] });
  const bundle = pki.root.certPem + pki.intermediate.certPem;
  const opts = buildClientCertTlsOptions(trustFor({ caPem: bundle }));
  assert.equal(opts.ca?.length, 2);
  assert.equal(opts.crl, undefined);

  const missing = path.join(tmp, 'does-not-exist.crl');
  assert.throws(() => buildClientCertTlsOptions(trustFor({ crlPath: missing })), (err: unknown) =>
    isDeployrError(err, 'INVALID_INPUT') && err.message.includes(missing) && err.message.includes('ENOENT') && !err.message.includes('\n'));
  const empty = path.join(tmp, 'empty.crl');
  fs.writeFileSync(empty, 'nothing here\n');
  assert.throws(() => buildClientCertTlsOptions(trustFor({ crlPath: empty })), (err: unknown) => isDeployrError(err, 'INVALID_INPUT'));
  assert.throws(() => buildClientCertTlsOptions(trustFor({ caPem: 'junk' })), (err: unknown) => isDeployrError(err, 'INVALID_INPUT'));
  const garbled = path.join(tmp, 'garbled.crl');
  fs.writeFileSync(garbled, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
  assert.throws(() => buildClientCertTlsOptions(trustFor({ crlPath: garbled })), (err: unknown) =>
    isDeployrError(err, 'INVALID_INPUT') && /CRL 1 .* cannot be parsed/.test(err.message));
});

test('buildClientCertTlsOptions splits a multi-CRL PEM file and accepts `BEGIN CRL` labels and DER', async () => {
  const rootCrl = await pki.crl([], 'root');
  const intermediateCrl = await pki.crl(['0A'], 'intermediate');
  const files: Record<string, Buffer> = {
    '/two.pem': Buffer.from(rootCrl + intermediateCrl),
    '/short-label.pem': Buffer.from(rootCrl.replaceAll('X509 CRL', 'CRL')),
    '/one.der': Buffer.from(rootCrl.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64'),
  };
  const readFile = (p: string): Buffer => {
    const data = files[p];
    if (!data) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return data;
  };
  assert.deepEqual(buildClientCertTlsOptions(trustFor({ crlPath: '/two.pem' }), readFile).crl, [rootCrl, intermediateCrl]);
  assert.deepEqual(buildClientCertTlsOptions(trustFor({ crlPath: '/short-label.pem' }), readFile).crl, [rootCrl]);
  assert.deepEqual(buildClientCertTlsOptions(trustFor({ crlPath: '/one.der' }), readFile).crl, [rootCrl]);
});

test('thumbprintToCnf is base64url of the raw SHA-256 (RFC 8705 x5t#S256)', async () => {
  const client = await pki.issueClient({ cn: 'machine-053.contoso.test' });
  const cert = new X509Certificate(client.certPem);
  assert.equal(certificateThumbprint(cert), client.thumbprint);
  assert.equal(certificateThumbprint(cert), cert.fingerprint256.replaceAll(':', '').toLowerCase());
  const expected = createHash('sha256').update(cert.raw).digest('base64url');
  assert.deepEqual(thumbprintToCnf(client.thumbprint), { 'x5t#S256': expected });
  assert.deepEqual(thumbprintToCnf(client.thumbprint.toUpperCase()), { 'x5t#S256': expected });
  assert.equal(expected.length, 43);
  // A known vector: sha256("") → 47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU
  assert.deepEqual(thumbprintToCnf('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'), { 'x5t#S256': '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU' });
  for (const bad of ['', 'abc', 'zz'.repeat(32), 'e3b0'.repeat(17)]) {
    assert.throws(() => thumbprintToCnf(bad), (err: unknown) => isDeployrError(err, 'INVALID_INPUT'));
  }
});

test('parseCaBundle accepts CA certificates and refuses empty bundles, garbage and leaves', async () => {
  const cas = parseCaBundle(`# our CAs\n${pki.root.certPem}\n${pki.intermediate.certPem}`);
  assert.deepEqual(cas.map((c) => c.serialNumber), [pki.root.serialNumber, pki.intermediate.serialNumber]);
  const leaf = await pki.issueClient({ cn: 'machine-054.contoso.test' });
  const cases: [string, RegExp][] = [
    ['', /no PEM certificate/],
    ['not a pem at all', /no PEM certificate/],
    ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /cannot be parsed/],
    [pki.root.certPem + leaf.certPem, /Certificate 2 .*CN=machine-054\.contoso\.test.*not a CA/],
  ];
  for (const [pem, message] of cases) {
    assert.throws(() => parseCaBundle(pem), (err: unknown) =>
      isDeployrError(err, 'INVALID_INPUT') && message.test(err.message) && !err.message.includes('\n'));
  }
});

test('evaluatePeerCertificate applies validity at `now` and maps TLS errors given as Error objects', async () => {
  const client = await pki.issueClient({ cn: 'machine-055.contoso.test' });
  const peer = new X509Certificate(client.certPem);
  const trust = trustFor();
  assert.equal(evaluatePeerCertificate({ authorized: true, peer }, trust).ok, true);
  assert.deepEqual(evaluatePeerCertificate({ authorized: true, peer }, trust, new Date(Date.now() + 2 * 86_400_000)), { ok: false, reason: 'cert_expired' });
  assert.deepEqual(evaluatePeerCertificate({ authorized: true, peer }, trust, new Date(Date.now() - 86_400_000)), { ok: false, reason: 'cert_not_yet_valid' });
  const withCode = Object.assign(new Error('certificate revoked'), { code: 'CERT_REVOKED' });
  assert.deepEqual(evaluatePeerCertificate({ authorized: false, authorizationError: withCode, peer }, trust), { ok: false, reason: 'cert_revoked' });
  for (const code of ['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SOMETHING_NEW', null, undefined]) {
    assert.deepEqual(evaluatePeerCertificate({ authorized: false, authorizationError: code, peer }, trust), { ok: false, reason: 'cert_untrusted' });
  }
  assert.deepEqual(evaluatePeerCertificate({ authorized: true, peer: undefined }, trust), { ok: false, reason: 'cert_missing' });
});
