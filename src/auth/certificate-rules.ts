// Client-certificate rules on top of the TLS chain check: rejection reasons, EKU, validity, subject/SAN patterns, thumbprints.
import { createHash, X509Certificate } from 'node:crypto';
import { DeployrError } from '../domain/errors.js';

/**
 * What the administrator trusts for certificate authentication (RFC 8705 `tls_client_auth`:
 * a CA bundle plus an identity rule).
 */
export interface CertificateTrust {
  /** PEM bundle of the trusted CA certificates (roots and, optionally, intermediates). */
  caPem: string;
  /**
   * Glob on the subject common name, for example `*.contoso.test`. Case-insensitive; `*` matches
   * any run of characters except `.`, `**` matches any run including `.`, `?` one character other
   * than `.`. Every CN in the subject must match; a subject without a CN never matches.
   */
  subjectPattern?: string;
  /** Glob (same syntax) matched against the DNS, URI and email SANs; one matching SAN is enough. */
  sanPattern?: string;
  /** Require the clientAuth (or anyExtendedKeyUsage) EKU to be present; default true. */
  requireClientAuthEku: boolean;
  /** Path of a PEM file with one CRL per trusted CA; loaded into the TLS context (see tls-trust.ts). */
  crlPath?: string;
}

/** Why a peer certificate does not authenticate; each is logged and audited, never shown to the client beyond a 401. */
export type CertificateRejection =
  | 'cert_missing'
  | 'cert_untrusted'
  | 'cert_expired'
  | 'cert_not_yet_valid'
  | 'cert_revoked'
  | 'cert_no_client_auth_eku'
  | 'cert_subject_mismatch';

/** The outcome of evaluatePeerCertificate. */
export type CertificateEvaluation =
  | { ok: true; subject: string; thumbprint: string }
  | { ok: false; reason: CertificateRejection };

/** What the TLS socket says about its peer (`socket.authorized`, `socket.authorizationError`, `socket.getPeerX509Certificate()`). */
export interface PeerCertificateInput {
  authorized: boolean;
  authorizationError?: string | Error | null;
  peer: X509Certificate | undefined;
}

/** OID of the clientAuth extended key usage (RFC 5280 4.2.1.12). */
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** OID of anyExtendedKeyUsage. */
export const EKU_ANY = '2.5.29.37.0';

/**
 * OpenSSL verification codes (as node reports them in `authorizationError`) that have their own
 * rejection reason; every other code means the chain is not trusted.
 */
const TLS_ERROR_REASONS: Readonly<Record<string, CertificateRejection>> = {
  CERT_HAS_EXPIRED: 'cert_expired',
  CERT_NOT_YET_VALID: 'cert_not_yet_valid',
  CERT_REVOKED: 'cert_revoked',
  // OpenSSL checks the "SSL client" purpose itself: a leaf whose EKU excludes clientAuth fails here.
  INVALID_PURPOSE: 'cert_no_client_auth_eku',
  // Everything else (UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE for a
  // missing intermediate, SELF_SIGNED_CERT_IN_CHAIN, DEPTH_ZERO_SELF_SIGNED_CERT,
  // CERT_SIGNATURE_FAILURE, UNABLE_TO_GET_CRL, CRL_HAS_EXPIRED, ...) falls through to cert_untrusted:
  // a revocation status that cannot be established fails closed.
};

/** SHA-256 of the certificate's DER encoding, lowercase hex (what `deployr` prints and stores as the thumbprint). */
export function certificateThumbprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/**
 * The RFC 8705 confirmation claim for a certificate-bound token: `x5t#S256` is the base64url
 * encoding of the raw SHA-256 bytes (not of the hex string). Throws DeployrError('INVALID_INPUT')
 * when `hexThumbprint` is not 64 hex digits.
 */
export function thumbprintToCnf(hexThumbprint: string): { 'x5t#S256': string } {
  const hex = hexThumbprint.replaceAll(':', '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new DeployrError('INVALID_INPUT', 'A certificate thumbprint must be 64 hexadecimal digits (SHA-256).');
  }
  return { 'x5t#S256': Buffer.from(hex, 'hex').toString('base64url') };
}

/**
 * Splits a PEM bundle into certificates and checks that each one is a CA (basicConstraints
 * CA:TRUE). Throws DeployrError('INVALID_INPUT') when the bundle holds no certificate, a block does
 * not parse, or a certificate is not a CA.
 */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pemBlocks(pem, 'CERTIFICATE');
  if (blocks.length === 0) {
    throw new DeployrError('INVALID_INPUT', 'The CA bundle contains no PEM certificate (-----BEGIN CERTIFICATE-----).');
  }
  return blocks.map((block, index) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      throw new DeployrError('INVALID_INPUT', `Certificate ${index + 1} in the CA bundle cannot be parsed.`, { index });
    }
    if (!cert.ca) {
      throw new DeployrError(
        'INVALID_INPUT',
        `Certificate ${index + 1} in the CA bundle (${oneLineSubject(cert)}) is not a CA (basicConstraints CA:TRUE is missing).`,
        { index },
      );
    }
    return cert;
  });
}

/**
 * Decides whether the TLS peer's certificate authenticates. The chain (and the CRL, when
 * configured) was already checked by node against the secure context built from the same trust
 * (tls-trust.ts); this checks again that the presented chain leads to a CA of `trust.caPem`
 * (cert_untrusted otherwise, whatever node's error), maps node's verdict to a rejection reason,
 * then applies the service's own rules: validity at `now`, the clientAuth EKU, and the subject/SAN
 * patterns. An unauthorized certificate never authenticates. `subject` in the result is the
 * subject DN on one line (`CN=a, O=b`).
 */
export function evaluatePeerCertificate(
  input: PeerCertificateInput,
  trust: CertificateTrust,
  now: Date = new Date(),
): CertificateEvaluation {
  const { peer } = input;
  if (!peer) return reject('cert_missing');
  // OpenSSL reports only the last verification error (an expired leaf from an unknown CA says
  // CERT_HAS_EXPIRED), and a keep-alive connection may predate a CA bundle change: so first check
  // that the chain the peer presented leads to a CA of this trust.
  if (!chainReachesBundle(peer, caBundle(trust.caPem))) return reject('cert_untrusted');
  if (!input.authorized) return reject(reasonFromTlsError(input.authorizationError));

  const notBefore = Date.parse(peer.validFrom);
  const notAfter = Date.parse(peer.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) return reject('cert_untrusted');
  if (now.getTime() < notBefore) return reject('cert_not_yet_valid');
  if (now.getTime() > notAfter) return reject('cert_expired');

  if (trust.requireClientAuthEku !== false) {
    const ekus = peer.keyUsage ?? [];
    if (!ekus.includes(EKU_CLIENT_AUTH) && !ekus.includes(EKU_ANY)) return reject('cert_no_client_auth_eku');
  }

  if (trust.subjectPattern !== undefined) {
    const cns = subjectCommonNames(peer);
    const re = globToRegExp(trust.subjectPattern);
    if (cns.length === 0 || !cns.every((cn) => re.test(cn))) return reject('cert_subject_mismatch');
  }
  if (trust.sanPattern !== undefined) {
    const re = globToRegExp(trust.sanPattern);
    const sans = subjectAltNames(peer).filter((s) => s.type === 'DNS' || s.type === 'URI' || s.type === 'email');
    if (!sans.some((s) => re.test(s.value))) return reject('cert_subject_mismatch');
  }

  return { ok: true, subject: oneLineSubject(peer), thumbprint: certificateThumbprint(peer) };
}

let cachedBundle: { pem: string; certs: X509Certificate[] } | null = null;

/** The parsed CA bundle, cached for the last PEM seen (the bundle changes rarely). An invalid bundle trusts nothing. */
function caBundle(pem: string): X509Certificate[] {
  if (cachedBundle?.pem !== pem) {
    let certs: X509Certificate[];
    try {
      certs = parseCaBundle(pem);
    } catch {
      certs = [];
    }
    cachedBundle = { pem, certs };
  }
  return cachedBundle.certs;
}

/**
 * True when the peer, or a certificate of the chain it presented (node's `issuerCertificate`
 * links), is a bundle CA or is signed by one.
 */
function chainReachesBundle(peer: X509Certificate, bundle: X509Certificate[]): boolean {
  let cert: X509Certificate | undefined = peer;
  for (let depth = 0; cert !== undefined && depth < 10; depth += 1) {
    const current: X509Certificate = cert;
    for (const ca of bundle) {
      if (ca.raw.equals(current.raw)) return true;
      if (current.checkIssued(ca) && current.verify(ca.publicKey)) return true;
    }
    const next: X509Certificate | undefined = current.issuerCertificate;
    cert = next !== undefined && !next.raw.equals(current.raw) ? next : undefined;
  }
  return false;
}

function reject(reason: CertificateRejection): CertificateEvaluation {
  return { ok: false, reason };
}

function reasonFromTlsError(error: string | Error | null | undefined): CertificateRejection {
  const code = typeof error === 'string' ? error : (error as (Error & { code?: unknown }) | null | undefined)?.code;
  return (typeof code === 'string' ? TLS_ERROR_REASONS[code] : undefined) ?? 'cert_untrusted';
}

/** PEM blocks of the given label, each re-assembled as its own PEM string. */
export function pemBlocks(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return (text.match(re) ?? []).map((block) => `${block}\n`);
}

/** Every CN value of the subject (node's legacy object gives a string, or an array when repeated). */
function subjectCommonNames(cert: X509Certificate): string[] {
  const cn = (cert.toLegacyObject().subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  if (cn === undefined) return [];
  return Array.isArray(cn) ? cn : [cn];
}

/** The subject on one line; node prints one `key=value` per line. */
function oneLineSubject(cert: X509Certificate): string {
  return cert.subject.split('\n').filter((line) => line !== '').join(', ');
}

/**
 * Parses node's `subjectAltName` string (`DNS:a, URI:b, email:c, IP Address:d`). Values with
 * special characters are JSON-quoted by node (`DNS:"a, b"`), so commas inside quotes are kept.
 */
function subjectAltNames(cert: X509Certificate): { type: string; value: string }[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        return out;
      }
      next = text.indexOf(', ', j + 1);
    } else {
      next = text.indexOf(', ', colon + 1);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    out.push({ type, value });
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/** Compiles the glob syntax documented on CertificateTrust.subjectPattern to an anchored, case-insensitive RegExp. */
function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i += 1) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        source += '.*';
        i += 1;
      } else {
        source += '[^.]*';
      }
    } else if (ch === '?') {
      source += '[^.]';
    } else {
      source += ch.replace(/[\\^$.|+()[\]{}/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'is');
}
