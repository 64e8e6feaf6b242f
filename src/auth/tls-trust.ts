// TLS secure-context pieces for client-certificate trust (CA bundle, CRL) and a CRL file watcher.
import fs from 'node:fs';
import tls from 'node:tls';
import { DeployrError } from '../domain/errors.js';
import type { CertificateTrust } from './certificate-rules.js';
import { parseCaBundle, pemBlocks } from './certificate-rules.js';

/** The client-certificate options to merge into the HTTPS server options and into `server.setSecureContext()`. */
export interface ClientCertTlsOptions {
  /** Always true: the server asks every client for a certificate (clients without one still connect). */
  requestCert: true;
  /** Always false: the route decides with evaluatePeerCertificate, so passcode/Entra clients are not cut off. */
  rejectUnauthorized: false;
  /** One PEM per trusted CA. Empty (never absent) when certificate trust is off, so node's default roots are not used. */
  ca?: string[];
  /** One PEM per CRL in the configured file; node loads only the first CRL of each string, hence one per entry. */
  crl?: string[];
}

/** Reads a whole file; `fs.readFileSync` by default, replaceable in tests. */
export type ReadFile = (path: string) => Buffer;

/**
 * Builds the secure-context pieces for client certificates. Pass the result (with the server's
 * `key` and `cert`) to `https.createServer` at start, and `ca`/`crl` (with `key`/`cert`) to
 * `server.setSecureContext()` when the CA bundle or the CRL file changes: new connections use the
 * new trust without a restart. `requestCert` cannot change after start, which is why it is always
 * true. With `trust === null` the CA list is empty so no client certificate is ever `authorized`.
 * The CRL file may hold PEM CRLs (`X509 CRL` or `CRL` labels) or one DER CRL (what ADCS publishes).
 * When a CRL is configured, node checks revocation for every certificate of the chain, so the file
 * must hold a current CRL from each CA of the chain (otherwise UNABLE_TO_GET_CRL → cert_untrusted).
 * Throws DeployrError('INVALID_INPUT') for a bad CA bundle, or a CRL file that is unreadable or
 * holds no CRL that OpenSSL can load.
 */
export function buildClientCertTlsOptions(
  trust: CertificateTrust | null,
  readFile: ReadFile = fs.readFileSync,
): ClientCertTlsOptions {
  if (trust === null) return { requestCert: true, rejectUnauthorized: false, ca: [] };
  parseCaBundle(trust.caPem);
  const options: ClientCertTlsOptions = {
    requestCert: true,
    rejectUnauthorized: false,
    ca: pemBlocks(trust.caPem, 'CERTIFICATE'),
  };
  if (trust.crlPath !== undefined) options.crl = loadCrls(trust.crlPath, readFile);
  return options;
}

/** Reads the CRL file into one PEM string per CRL and checks that OpenSSL can load each. */
function loadCrls(crlPath: string, readFile: ReadFile): string[] {
  let bytes: Buffer;
  try {
    bytes = readFile(crlPath);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new DeployrError('INVALID_INPUT', `The CRL file ${crlPath} cannot be read (${why}).`, { path: crlPath });
  }
  const text = bytes.toString('latin1');
  let crls: string[];
  if (text.includes('-----BEGIN')) {
    // node reads only the first CRL of a string, so each one goes in its own array entry.
    crls = [...pemBlocks(text, 'X509 CRL'), ...pemBlocks(text, 'CRL').map((b) => b.replaceAll('-----BEGIN CRL-----', '-----BEGIN X509 CRL-----').replaceAll('-----END CRL-----', '-----END X509 CRL-----'))];
  } else if (bytes.length > 0 && bytes[0] === 0x30) {
    crls = [`-----BEGIN X509 CRL-----\n${bytes.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`];
  } else {
    crls = [];
  }
  if (crls.length === 0) {
    throw new DeployrError('INVALID_INPUT', `The CRL file ${crlPath} contains no CRL (PEM -----BEGIN X509 CRL----- or DER).`, { path: crlPath });
  }
  crls.forEach((crl, index) => {
    try {
      tls.createSecureContext({ crl });
    } catch {
      throw new DeployrError('INVALID_INPUT', `CRL ${index + 1} in the file ${crlPath} cannot be parsed.`, { path: crlPath, index });
    }
  });
  return crls;
}

/**
 * Calls `onChange` when the file at `path` changes (polled every second with fs.watchFile, which
 * also sees a file replaced by rename or deleted). Does not keep the process alive. Returns a stop
 * function. `onChange` typically rebuilds with buildClientCertTlsOptions and calls
 * `server.setSecureContext()`; when the rebuild throws (file deleted or caught mid-write) keep the
 * current context and log it: the next poll retries.
 */
export function watchCrl(path: string, onChange: () => void): () => void {
  const listener = (curr: fs.Stats, prev: fs.Stats): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) onChange();
  };
  fs.watchFile(path, { interval: 1000, persistent: false }, listener);
  return () => fs.unwatchFile(path, listener);
}
