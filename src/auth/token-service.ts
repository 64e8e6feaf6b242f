// Issues and verifies the service's own session tokens: EdDSA-signed JWTs with a fixed type, issuer and audience.

import { createPrivateKey, randomUUID, sign, type JsonWebKeyInput } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { DeployrError } from '../domain/errors.js';
import type { AuthContext, AuthMethod } from '../domain/security-settings.js';
import type { KeyStore } from '../engine/ports.js';

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
}

/** A verified token's claims with its id and expiry. */
export interface VerifiedToken extends TokenClaims {
  tokenId: string;
  expiresAt: number;
}

/** Signs and verifies session tokens. */
export interface TokenService {
  issue(claims: TokenClaims): Promise<{ token: string; expiresAt: string; tokenId: string }>;
  /** Throws TOKEN_INVALID for a bad signature, type, issuer, audience, an expired token or a malformed one. */
  verify(token: string): Promise<VerifiedToken>;
}

/** A token service whose key pair is kept in the store (so every node and restart shares it). */
export async function createTokenService(keys: KeyStore, options: { ttlSeconds: number; now?: () => Date }): Promise<TokenService> {
  const now = options.now ?? (() => new Date());
  const stored = await keys.currentSigningKey(async () => {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    return { kid: randomUUID(), privateJwk: { ...(await exportJWK(pair.privateKey)) }, publicJwk: { ...(await exportJWK(pair.publicKey)) } };
  });
  // Signing is node:crypto's one-shot Ed25519 on this thread (about 0.1 ms): jose's WebCrypto signing
  // goes through the thread pool, costs twice the CPU, and during a boot storm its 500 round trips
  // leave the allocator in a state that slows every later request (docs/performance.md). Verifying
  // (once per token; the login service remembers verified tokens) stays with jose's checks.
  const privateKey = createPrivateKey({ key: stored.privateJwk, format: 'jwk' } as JsonWebKeyInput);
  const publicKey = (await importJWK(stored.publicJwk, 'EdDSA')) as CryptoKey;
  const header = base64url({ alg: 'EdDSA', typ: TOKEN_TYPE, kid: stored.kid });

  return {
    async issue(claims) {
      const iat = Math.floor(now().getTime() / 1000);
      const exp = iat + options.ttlSeconds;
      const jti = randomUUID();
      const payload: JWTPayload = {
        amr: [claims.method], ctx: claims.context,
        iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: claims.subject, iat, nbf: iat, exp, jti,
      };
      if (claims.passcodeGeneration !== undefined) payload.gen = claims.passcodeGeneration;
      if (claims.taskSequenceLimit) payload.tsl = claims.taskSequenceLimit;
      if (claims.certificateThumbprint) {
        payload.cnf = { 'x5t#S256': Buffer.from(claims.certificateThumbprint, 'hex').toString('base64url') };
      }
      // JWS compact serialisation (RFC 7515 §7.1): header.payload.signature, each base64url.
      const signingInput = `${header}.${base64url(payload)}`;
      const token = `${signingInput}.${sign(null, Buffer.from(signingInput), privateKey).toString('base64url')}`;
      return { token, expiresAt: new Date(exp * 1000).toISOString(), tokenId: jti };
    },

    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, publicKey, {
          algorithms: ['EdDSA'], typ: TOKEN_TYPE, issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE,
          requiredClaims: ['exp', 'iat', 'jti', 'sub'], currentDate: now(), clockTolerance: 5,
        }));
      } catch {
        throw new DeployrError('TOKEN_INVALID', 'The token is missing, expired or not valid; sign in again.');
      }
      const method = Array.isArray(payload.amr) ? payload.amr[0] : undefined;
      const context = payload.ctx;
      if ((method !== 'anonymous' && method !== 'certificate' && method !== 'entra' && method !== 'passcode') || (context !== 'boot' && context !== 'fullos')) {
        throw new DeployrError('TOKEN_INVALID', 'The token is missing, expired or not valid; sign in again.');
      }
      const cnf = payload.cnf as { 'x5t#S256'?: unknown } | undefined;
      const x5t = typeof cnf?.['x5t#S256'] === 'string' ? Buffer.from(cnf['x5t#S256'], 'base64url').toString('hex') : undefined;
      return {
        method, context, subject: payload.sub as string, tokenId: payload.jti as string, expiresAt: payload.exp as number,
        ...(typeof payload.gen === 'number' ? { passcodeGeneration: payload.gen } : {}),
        ...(typeof payload.tsl === 'string' ? { taskSequenceLimit: payload.tsl } : {}),
        ...(x5t ? { certificateThumbprint: x5t } : {}),
      };
    },
  };
}

/** base64url of a value's JSON. */
function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
