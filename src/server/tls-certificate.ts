// The service's TLS certificate: configured files, or a self-signed pair made on first start and kept under the home.

import 'reflect-metadata';
import { createHash, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import * as x509 from '@peculiar/x509';

/** A certificate and key in PEM, with the certificate's SHA-256 fingerprint. */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, as colon-separated upper-case hex (what browsers and openssl show). */
  fingerprint: string;
  /** True when the pair was made just now. */
  created: boolean;
}

/** The SHA-256 fingerprint of a PEM certificate, as `AB:CD:…`. */
export function certificateFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Hex SHA-256 of the DER bytes (lower case, no colons). */
export function derSha256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** The certificate's public-key pin: base64 SHA-256 of its SubjectPublicKeyInfo (what `curl --pinnedpubkey sha256//…` takes). */
export function publicKeyPin(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

function writeAtomically(file: string, data: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Makes a self-signed ECDSA P-256 server certificate for the host name, localhost, 127.0.0.1 and ::1. */
export async function makeSelfSignedCertificate(host = hostname()): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const names = [...new Set([host, 'localhost'])].map((value) => ({ type: 'dns' as const, value }));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${host}, O=deployr (self-signed)`,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + 825 * 24 * 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...names, { type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/**
 * Loads the configured certificate and key, or the self-signed pair under the home, making it on
 * first start (both files readable by their owner only, like everything under the home).
 */
export async function loadOrCreateTlsMaterial(paths: { cert: string; key: string }, configured: { cert: string | null; key: string | null }): Promise<TlsMaterial> {
  if (configured.cert || configured.key) {
    if (!configured.cert || !configured.key) throw new Error('Both DEPLOYR_TLS_CERT and DEPLOYR_TLS_KEY must be set to use a configured certificate.');
    const cert = readFileSync(configured.cert, 'utf8');
    return { cert, key: readFileSync(configured.key, 'utf8'), fingerprint: certificateFingerprint(cert), created: false };
  }
  if (existsSync(paths.cert) && existsSync(paths.key)) {
    const cert = readFileSync(paths.cert, 'utf8');
    return { cert, key: readFileSync(paths.key, 'utf8'), fingerprint: certificateFingerprint(cert), created: false };
  }
  const made = await makeSelfSignedCertificate();
  mkdirSync(dirname(paths.cert), { recursive: true, mode: 0o700 });
  writeAtomically(paths.key, made.key, 0o600);
  // The certificate is public (clients get its fingerprint), but like everything under the home it is owner-only.
  writeAtomically(paths.cert, made.cert, 0o600);
  return { ...made, fingerprint: certificateFingerprint(made.cert), created: true };
}
