// Issues and verifies the service's own session tokens: EdDSA-signed JWTs with a fixed type, issuer and audience.

import { createPrivateKey, randomUUID, sign, type JsonWebKeyInput, type KeyObject } from 'node:crypto';
import { importJWK, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { DeployrError } from '../domain/errors.js';
import type { AuthContext, AuthMethod } from '../domain/security-settings.js';
import type { SigningKeySnapshot, SigningKeySource } from './signing-keys.js';

/** The JWT `typ` header of our tokens, so no other kind of JWT passes as one (RFC 8725 §3.11). */
export const TOKEN_TYPE = 'deployr-session+jwt';
/** The `iss` of our tokens. */
export const TOKEN_ISSUER = 'urn:deployr:service';
/** The `aud` of our tokens. */
export const TOKEN_AUDIENCE = 'urn:deployr:api';

/** What a token says about its holder. */
export interface TokenClaims {
  method: AuthMethod;
  subject: string;
  context: AuthContext;
  /** For passcode tokens: the passcode generation it was issued under. */
  passcodeGeneration?: number;
  /** Limits the token to one task sequence id. */
  taskSequenceLimit?: string;
  /** For certificate tokens: SHA-256 thumbprint (hex) of the certificate, also put in `cnf` (RFC 8705). */
  certificateThumbprint?: string;
  /** For tokens of a scoped passcode: its id (`spc`), checked on every request (revoked or expired: refused). */
  scopedPasscodeId?: string;
}

/** Options of one issue. */
export interface IssueOptions {
  /** The token expires no later than this (epoch seconds): a scoped passcode's expiry. */
  notAfter?: number;
}

/** A verified token's claims with its id and expiry. */
export interface VerifiedToken extends TokenClaims {
  tokenId: string;
  expiresAt: number;
  /** The signing key it was verified with. */
  kid: string;
}

/** Signs and verifies session tokens. */
export interface TokenService {
  issue(claims: TokenClaims, options?: IssueOptions): Promise<{ token: string; expiresAt: string; tokenId: string }>;
  /**
   * Throws TOKEN_INVALID for a bad signature, type, issuer, audience, an expired token, a malformed
   * one, or one signed by a key that is unknown or retired. `expiresAt` is the earlier of the
   * token's expiry and the end of its key's verify-only window.
   */
  verify(token: string): Promise<VerifiedToken>;
  /** Re-reads the keys from the store: a rotation saved by any process is picked up (called on the settings poll). */
  refreshKeys(): Promise<void>;
  /**
   * True while the key `kid` still verifies (as this process last read the keys): callers that
   * remember verified tokens ask before reusing one, so a key retired early (`keys rotate
   * --verify-for 0`) ends its remembered tokens too.
   */
  keyStillVerifies(kid: string): boolean;
}

/** The keys in use, opened. */
interface LoadedKeys {
  signing: { kid: string; privateKey: KeyObject; header: string } | null;
  /** Why there is no signing key, when there is none. */
  problem: string | undefined;
  verifiers: Map<string, { publicKey: CryptoKey; verifyUntil: number | null }>;
}

async function loadKeys(snapshot: SigningKeySnapshot, previous: LoadedKeys | null): Promise<LoadedKeys> {
  let signing = previous?.signing ?? null;
  if (snapshot.active?.kid !== signing?.kid) {
    signing = snapshot.active && {
      kid: snapshot.active.kid,
      // Signing is node:crypto's one-shot Ed25519 on this thread (about 0.1 ms): jose's WebCrypto signing
      // goes through the thread pool, costs twice the CPU, and during a boot storm its 500 round trips
      // leave the allocator in a state that slows every later request (docs/performance.md). Verifying
      // (once per token; the login service remembers verified tokens) stays with jose's checks.
      privateKey: createPrivateKey({ key: snapshot.active.privateJwk, format: 'jwk' } as JsonWebKeyInput),
      header: base64url({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: snapshot.active.kid }),
    };
  }
  const verifiers: LoadedKeys['verifiers'] = new Map();
  for (const v of snapshot.verifiers) {
    const publicKey = previous?.verifiers.get(v.kid)?.publicKey ?? ((await importJWK(v.publicJwk, 'EdDSA')) as CryptoKey);
    verifiers.set(v.kid, { publicKey, verifyUntil: v.verifyUntil === null ? null : Date.parse(v.verifyUntil) });
  }
  return { signing, verifiers, problem: snapshot.problem };
}

/**
 * A token service whose keys are kept in the store (so every node and restart shares them): the
 * active key signs; replaced keys verify until their window ends. A token naming a key this
 * process does not know makes it re-read the keys once (another process rotated them).
 */
export async function createTokenService(keys: SigningKeySource, options: { ttlSeconds: number; now?: () => Date }): Promise<TokenService> {
  const now = options.now ?? (() => new Date());
  let loaded = await loadKeys(await keys.snapshot(), null);
  let reloading: Promise<void> | null = null;
  const reload = (): Promise<void> => {
    reloading ??= (async () => {
      loaded = await loadKeys(await keys.snapshot(), loaded);
      if (loaded.problem) throw new DeployrError('UNAVAILABLE', `No token can be issued: ${loaded.problem}`);
    })().finally(() => { reloading = null; });
    return reloading;
  };
  const invalid = (): DeployrError => new DeployrError('TOKEN_INVALID', 'The token is missing, expired or not valid; sign in again.');
  /** The verifying key a token names, when it is known and not retired. */
  const verifierFor = async (kid: unknown): Promise<{ publicKey: CryptoKey; verifyUntil: number | null }> => {
    if (typeof kid !== 'string') throw invalid();
    if (!loaded.verifiers.has(kid)) await reload().catch(() => undefined);
    const v = loaded.verifiers.get(kid);
    if (!v || (v.verifyUntil !== null && v.verifyUntil <= now().getTime())) throw invalid();
    return v;
  };

  return {
    async issue(claims, issueOptions = {}) {
      const iat = Math.floor(now().getTime() / 1000);
      const exp = Math.min(iat + options.ttlSeconds, issueOptions.notAfter ?? Infinity);
      const jti = randomUUID();
      const payload: JWTPayload = {
        amr: [claims.method], ctx: claims.context,
        iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: claims.subject, iat, nbf: iat, exp, jti,
      };
      if (claims.passcodeGeneration !== undefined) payload.gen = claims.passcodeGeneration;
      if (claims.taskSequenceLimit) payload.tsl = claims.taskSequenceLimit;
      if (claims.scopedPasscodeId) payload.spc = claims.scopedPasscodeId;
      if (claims.certificateThumbprint) {
        payload.cnf = { 'x5t#S256': Buffer.from(claims.certificateThumbprint, 'hex').toString('base64url') };
      }
      // JWS compact serialisation (RFC 7515 §7.1): header.payload.signature, each base64url.
      const signing = loaded.signing;
      if (!signing) throw new DeployrError('UNAVAILABLE', loaded.problem ? `No token can be issued: ${loaded.problem}` : 'No signing key is available; no token can be issued.');
      const signingInput = `${signing.header}.${base64url(payload)}`;
      const token = `${signingInput}.${sign(null, Buffer.from(signingInput), signing.privateKey).toString('base64url')}`;
      return { token, expiresAt: new Date(exp * 1000).toISOString(), tokenId: jti };
    },

    async verify(token) {
      let payload: JWTPayload;
      let verifyUntil: number | null = null;
      let kid = '';
      try {
        ({ payload } = await jwtVerify(token, async (header) => {
          const v = await verifierFor(header.kid);
          verifyUntil = v.verifyUntil;
          kid = header.kid as string;
          return v.publicKey;
        }, {
          algorithms: ['EdDSA'], typ: TOKEN_TYPE, issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE,
          requiredClaims: ['exp', 'iat', 'jti', 'sub'], currentDate: now(), clockTolerance: 5,
        }));
      } catch {
        throw invalid();
      }
      const method = Array.isArray(payload.amr) ? payload.amr[0] : undefined;
      const context = payload.ctx;
      if ((method !== 'anonymous' && method !== 'certificate' && method !== 'entra' && method !== 'passcode') || (context !== 'boot' && context !== 'fullos')) {
        throw new DeployrError('TOKEN_INVALID', 'The token is missing, expired or not valid; sign in again.');
      }
      const cnf = payload.cnf as { 'x5t#S256'?: unknown } | undefined;
      const x5t = typeof cnf?.['x5t#S256'] === 'string' ? Buffer.from(cnf['x5t#S256'], 'base64url').toString('hex') : undefined;
      return {
        method, context, subject: payload.sub as string, tokenId: payload.jti as string, kid,
        expiresAt: verifyUntil === null ? (payload.exp as number) : Math.min(payload.exp as number, Math.floor(verifyUntil / 1000)),
        ...(typeof payload.gen === 'number' ? { passcodeGeneration: payload.gen } : {}),
        ...(typeof payload.tsl === 'string' ? { taskSequenceLimit: payload.tsl } : {}),
        ...(typeof payload.spc === 'string' ? { scopedPasscodeId: payload.spc } : {}),
        ...(x5t ? { certificateThumbprint: x5t } : {}),
      };
    },

    refreshKeys: reload,

    keyStillVerifies(kid) {
      const v = loaded.verifiers.get(kid);
      return v !== undefined && (v.verifyUntil === null || v.verifyUntil > now().getTime());
    },
  };
}

/** base64url of a value's JSON. */
function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
