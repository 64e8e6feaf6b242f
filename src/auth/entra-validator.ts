// Entra ID access-token validation: discovery, signing keys, issuer, audience, tenant, access token (not ID token), expiry and app role.
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { CompactJWSHeaderParameters, FlattenedJWSInput, JWTPayload, JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import { DeployrError } from '../domain/errors.js';

/** The Entra ID settings a token is checked against (from the security configuration). */
export interface EntraSettings {
  /** Directory (tenant) ID; tokens must come from this tenant. */
  tenantId: string;
  /** Application (client) ID of the DeployR app registration; `aud` is it or `api://<clientId>`. */
  clientId: string;
  /** App role the signed-in user must hold (in the token's `roles` claim). */
  role: string;
  /** Where discovery starts, default `https://login.microsoftonline.com` (no tenant, no trailing path). */
  authority: string;
}

/** Who a validated Entra ID token identifies. */
export interface EntraIdentity {
  /** Stable identifier: `${tid}/${oid ?? sub}`. */
  subject: string;
  /** The tenant (`tid`, which every accepted token carries). */
  tenantId: string;
  /** The user's object ID (`oid`, falling back to `sub`). */
  objectId: string;
  /** Display name, for display and audit only. */
  name?: string;
  /** `preferred_username` / `upn` / `unique_name`, for display and audit only. */
  username?: string;
  /** App roles carried by the token. */
  roles: string[];
}

/** Validates Entra ID access tokens; caches discovery documents and key sets between calls. */
export interface EntraValidator {
  /**
   * Checks `token` against `settings` and returns who it identifies. Throws
   * `DeployrError('AUTH_FAILED', …, { reason })` for a bad token and
   * `DeployrError('UNAVAILABLE', …, { reason: 'entra_unreachable' })` when the authority cannot be read.
   */
  validate(token: string, settings: EntraSettings, now?: Date): Promise<EntraIdentity>;
}

/** Default authority of the public Microsoft cloud. */
export const DEFAULT_ENTRA_AUTHORITY = 'https://login.microsoftonline.com';

const ALLOWED_ALGORITHMS = ['RS256', 'PS256', 'ES256'];
const CLOCK_TOLERANCE_SECONDS = 60;
const DISCOVERY_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GUID_IN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const GENERIC_MESSAGE = 'Entra ID sign-in was not accepted';

interface Discovery {
  issuer: string;
  jwksUri: string;
}

interface CachedDiscovery {
  promise: Promise<Discovery>;
  fetchedAt: number;
}

/** A failure to reach the authority's key set, told apart from a failure of the token itself. */
class KeySetUnavailable extends Error {}

function authFailed(reason: string): DeployrError {
  return new DeployrError('AUTH_FAILED', GENERIC_MESSAGE, { reason });
}

function unreachable(authority: string, url: string, detail: string): DeployrError {
  return new DeployrError('UNAVAILABLE', `Entra ID authority ${authority} is unreachable`, {
    reason: 'entra_unreachable',
    url,
    detail,
  });
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const inner = cause instanceof Error ? `: ${cause.message}` : '';
    return `${err.message}${inner}`.split('\n')[0] ?? '';
  }
  return String(err);
}

function trimAuthority(authority: string): string {
  return (authority || DEFAULT_ENTRA_AUTHORITY).replace(/\/+$/, '');
}

function isMicrosoftAuthority(authority: string): boolean {
  try {
    return new URL(authority).host.toLowerCase() === 'login.microsoftonline.com';
  } catch {
    return false;
  }
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** Typ values an Entra (or RFC 9068) access token may carry; anything else is another kind of JWT. */
function acceptableTyp(typ: unknown): boolean {
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase().replace(/^application\//, '');
  return t === 'jwt' || t === 'at+jwt';
}

/** Claims only an ID token carries (OpenID Connect Core §2 and §3.3.2.11): never in an access token. */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'];
/** Claims naming the client an access token was issued to: Entra v2 `azp`, Entra v1 `appid`, RFC 9068 `client_id`. */
const CLIENT_CLAIMS = ['azp', 'appid', 'client_id'];

/**
 * True when the (verified) payload is an access token rather than an ID token: it names the client
 * it was issued to (`azp`, `appid` or `client_id`; an Entra ID token has none of them) and carries
 * no claim that only ID tokens carry (`nonce`, `at_hash`, `c_hash`). (The app-role check that
 * follows also requires `roles`, so every accepted token carries permissions.)
 */
export function isAccessToken(payload: JWTPayload): boolean {
  if (ID_TOKEN_CLAIMS.some((name) => payload[name] !== undefined)) return false;
  return CLIENT_CLAIMS.some((name) => stringClaim(payload, name) !== undefined);
}

/** Creates a validator for Entra ID access tokens; `fetchTimeoutMs` bounds each request to the authority (default 5 s). */
export function createEntraValidator(options: { fetchTimeoutMs?: number } = {}): EntraValidator {
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
  const discoveries = new Map<string, CachedDiscovery>();
  const keySets = new Map<string, JWTVerifyGetKey>();

  async function fetchDiscovery(authority: string, tenantId: string): Promise<Discovery> {
    const url = `${authority}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`;
    let body: unknown;
    try {
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(fetchTimeoutMs),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      body = await response.json();
    } catch (err) {
      throw unreachable(authority, url, describe(err));
    }
    const doc = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const { issuer, jwks_uri: jwksUri } = doc;
    if (typeof issuer !== 'string' || issuer === '' || typeof jwksUri !== 'string') {
      throw unreachable(authority, url, 'discovery document lacks issuer or jwks_uri');
    }
    let keysUrl: URL;
    try {
      keysUrl = new URL(jwksUri);
    } catch {
      throw unreachable(authority, url, 'discovery document has an invalid jwks_uri');
    }
    if (new URL(authority).protocol === 'https:' && keysUrl.protocol !== 'https:') {
      throw unreachable(authority, url, 'discovery document has a jwks_uri that is not https');
    }
    return { issuer, jwksUri: keysUrl.href };
  }

  function discover(authority: string, tenantId: string): Promise<Discovery> {
    const key = `${authority}\n${tenantId.toLowerCase()}`;
    const cached = discoveries.get(key);
    if (cached && Date.now() - cached.fetchedAt < DISCOVERY_MAX_AGE_MS) return cached.promise;
    const promise = fetchDiscovery(authority, tenantId);
    discoveries.set(key, { promise, fetchedAt: Date.now() });
    // A failure is not cached: the next validation asks again.
    promise.catch(() => {
      if (discoveries.get(key)?.promise === promise) discoveries.delete(key);
    });
    return promise;
  }

  function keySet(jwksUri: string): JWTVerifyGetKey {
    let remote = keySets.get(jwksUri);
    if (!remote) {
      remote = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: fetchTimeoutMs });
      keySets.set(jwksUri, remote);
    }
    const getKey = remote;
    return async (header: CompactJWSHeaderParameters, input: FlattenedJWSInput) => {
      try {
        return await getKey(header, input);
      } catch (err) {
        if (
          err instanceof errors.JWKSNoMatchingKey ||
          err instanceof errors.JWKSMultipleMatchingKeys ||
          err instanceof errors.JOSENotSupported ||
          err instanceof errors.JOSEAlgNotAllowed
        ) {
          throw err;
        }
        throw new KeySetUnavailable(describe(err));
      }
    };
  }

  async function validate(token: string, settings: EntraSettings, now?: Date): Promise<EntraIdentity> {
    const authority = trimAuthority(settings.authority);
    const tenantId = settings.tenantId.trim();

    // Cheap structural checks first, so garbage never causes a request to the authority.
    if (typeof token !== 'string' || token.split('.').length !== 3) throw authFailed('entra_malformed');
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
      decodeJwt(token);
    } catch {
      throw authFailed('entra_malformed');
    }
    if (typeof header.alg !== 'string' || !ALLOWED_ALGORITHMS.includes(header.alg)) {
      throw authFailed('entra_signature');
    }
    if (!acceptableTyp(header.typ)) throw authFailed('entra_malformed');

    const discovery = await discover(authority, tenantId);
    const issuer = discovery.issuer.replace(/\{tenantid\}/gi, tenantId);
    // A tenant configured by domain name is identified in tokens by its GUID, which the issuer carries.
    const tenantGuid = GUID.test(tenantId) ? tenantId : (GUID_IN.exec(issuer)?.[0] ?? tenantId);
    const issuers = [issuer];
    if (isMicrosoftAuthority(authority)) issuers.push(`https://sts.windows.net/${tenantGuid}/`);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet(discovery.jwksUri), {
        algorithms: ALLOWED_ALGORITHMS,
        issuer: issuers,
        audience: [settings.clientId, `api://${settings.clientId}`],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp'],
        ...(now ? { currentDate: now } : {}),
      }));
    } catch (err) {
      throw mapVerifyError(err, authority, discovery.jwksUri);
    }

    // Every Entra access token names its tenant; one without `tid` is not accepted.
    const tid = stringClaim(payload, 'tid');
    if (tid === undefined || tid.toLowerCase() !== tenantGuid.toLowerCase()) throw authFailed('entra_tenant');
    if (!isAccessToken(payload)) throw authFailed('entra_not_access_token');

    const rolesClaim = payload['roles'];
    const roles = Array.isArray(rolesClaim) ? rolesClaim.filter((r): r is string => typeof r === 'string') : [];
    if (!roles.includes(settings.role)) throw authFailed('entra_role');

    const objectId = stringClaim(payload, 'oid') ?? stringClaim(payload, 'sub');
    if (objectId === undefined) throw authFailed('entra_malformed');
    const tokenTenant = tid;
    const name = stringClaim(payload, 'name');
    const username =
      stringClaim(payload, 'preferred_username') ?? stringClaim(payload, 'upn') ?? stringClaim(payload, 'unique_name');

    return {
      subject: `${tokenTenant}/${objectId}`,
      tenantId: tokenTenant,
      objectId,
      ...(name !== undefined ? { name } : {}),
      ...(username !== undefined ? { username } : {}),
      roles,
    };
  }

  return { validate };
}

function mapVerifyError(err: unknown, authority: string, jwksUri: string): DeployrError {
  if (err instanceof KeySetUnavailable) return unreachable(authority, jwksUri, err.message);
  if (err instanceof errors.JWTExpired) return authFailed('entra_expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return authFailed('entra_issuer');
    if (err.claim === 'aud') return authFailed('entra_audience');
    if (err.claim === 'nbf' && err.reason === 'check_failed') return authFailed('entra_expired');
    return authFailed('entra_malformed');
  }
  if (err instanceof errors.JWKSNoMatchingKey) return authFailed('entra_unknown_key');
  if (err instanceof errors.JWSSignatureVerificationFailed) return authFailed('entra_signature');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return authFailed('entra_signature');
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return authFailed('entra_signature');
  }
  return authFailed('entra_malformed');
}
