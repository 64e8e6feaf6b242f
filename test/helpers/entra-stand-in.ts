// Test helper: a local Entra ID stand-in (oidc-provider 9 with the device flow) under a tenant-shaped issuer.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';

/** Options of {@link startEntraStandIn}. */
export interface EntraStandInOptions {
  /** Tenant ID; the issuer is `http://127.0.0.1:PORT/<tenantId>/v2.0`. */
  tenantId: string;
  /** Client ID of the public client that runs the device flow (and of the API it asks for). */
  clientId: string;
  /** App roles put in every access token (default `['DeployR.Technician']`; `[]` omits the claim). */
  roles?: string[];
  /** `tid` put in access tokens (default `tenantId`), to test tokens from another tenant. */
  tokenTenantId?: string;
  /** `aud` of access tokens (default `api://<clientId>`). */
  audience?: string;
  /** Access token lifetime, seconds (default 3600). */
  accessTokenTtl?: number;
  /** Device code lifetime, seconds (default 600). */
  deviceCodeTtl?: number;
  /** Answer `slow_down` to a token request that comes sooner than this after the previous one (default: never). */
  slowDownBelowMs?: number;
}

/** Extra facts about the account that approves a code. */
export interface ApproveOptions {
  /** `name` claim. */
  name?: string;
  /** `preferred_username` claim. */
  username?: string;
  /** `oid` claim (default: the account ID). */
  objectId?: string;
  /** Roles for this account's tokens, replacing the stand-in's default. */
  roles?: string[];
}

/** Options of {@link EntraStandIn.mintToken}. */
export interface MintOptions {
  /** `kid` header (default: the published key's kid, or `unknown-key` with `signWithUnknownKey`). */
  kid?: string;
  /** Seconds from now until `exp` (default 3600; negative for an already expired token). */
  expiresIn?: number;
  /** Sign with a key that is not in the stand-in's JWKS. */
  signWithUnknownKey?: boolean;
}

/** A running stand-in; close it when the test ends. */
export interface EntraStandIn {
  /** `http://127.0.0.1:PORT`: what the service is configured with as the authority. */
  readonly authority: string;
  /** `http://127.0.0.1:PORT/<tenantId>/v2.0`. */
  readonly issuer: string;
  /** The default `aud` of access tokens. */
  readonly audience: string;
  /** Current slow_down threshold; tests may change it while a flow runs (0 turns it off). */
  slowDownBelowMs: number;
  /** Number of token-endpoint requests received so far. */
  readonly tokenRequests: number;
  /** Scripted technician approval of `userCode` (with or without the mask's dash) as `accountId`. */
  approve(userCode: string, accountId: string, options?: ApproveOptions): Promise<void>;
  /** Scripted technician declining `userCode`; the next poll answers `access_denied`. */
  deny(userCode: string): Promise<void>;
  /** Makes `userCode` expire now; the next poll answers `expired_token`. */
  expire(userCode: string): Promise<void>;
  /**
   * Signs an Entra-shaped v2 access token directly (`typ` JWT; `aud`, `azp`, `tid`, `oid`, `roles`,
   * `ver`, no `scp` unless given); claims set to `undefined` in `claims` are removed.
   */
  mintToken(claims?: Record<string, unknown>, options?: MintOptions): Promise<string>;
  /** Stops the server and closes every socket. */
  close(): Promise<void>;
}

// oidc-provider ships no type declarations; these describe the little of it that is used here.
interface KoaContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
}
interface DeviceCodeModel {
  grantId?: string;
  resource?: string;
  scope?: string;
  accountId?: string;
  authTime?: number;
  error?: string;
  errorDescription?: string;
  save(): Promise<string>;
}
interface GrantModel {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  DeviceCode: { findByUserCode(userCode: string): Promise<DeviceCodeModel | undefined> };
  Grant: new (init: { clientId: string; accountId: string }) => GrantModel;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
interface TokenLike {
  accountId?: string;
}

let providerModule: Promise<ProviderConstructor> | undefined;
let unknownKey: Promise<CryptoKey> | undefined;

/** A signing key published by no stand-in, made once on first use (RSA key generation is slow). */
function unpublishedKey(): Promise<CryptoKey> {
  unknownKey ??= generateKeyPair('RS256').then((pair) => pair.privateKey);
  return unknownKey;
}

/** Imports oidc-provider once, dropping the "unsupported runtime" warning it prints on Node 20. */
function loadProvider(): Promise<ProviderConstructor> {
  providerModule ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      warn(...args);
    };
    try {
      const specifier = 'oidc-provider';
      const mod = (await import(specifier)) as { default: ProviderConstructor };
      return mod.default;
    } finally {
      console.warn = warn;
    }
  })();
  return providerModule;
}

type Payload = Record<string, unknown>;

/** oidc-provider's storage contract, in memory, per stand-in (its own adapter warns and drops expired codes). */
function createAdapterFactory(store: Map<string, Payload>) {
  return (model: string) => {
    const key = (id: string) => `${model}:${id}`;
    const copy = (p: Payload | undefined) => (p ? structuredClone(p) : undefined);
    const scan = (field: string, value: string) => {
      for (const [k, p] of store) if (k.startsWith(`${model}:`) && p[field] === value) return copy(p);
      return undefined;
    };
    return {
      async upsert(id: string, payload: Payload) {
        store.set(key(id), structuredClone(payload));
      },
      async find(id: string) {
        return copy(store.get(key(id)));
      },
      async findByUserCode(userCode: string) {
        return scan('userCode', userCode);
      },
      async findByUid(uid: string) {
        return scan('uid', uid);
      },
      async consume(id: string) {
        const p = store.get(key(id));
        if (p) p['consumed'] = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string) {
        store.delete(key(id));
      },
      async revokeByGrantId(grantId: string) {
        for (const [k, p] of store) if (k.startsWith(`${model}:`) && p['grantId'] === grantId) store.delete(k);
      },
    };
  };
}

/** oidc-provider stores user codes without the mask's dash and in upper case. */
function normalizeUserCode(userCode: string): string {
  return userCode.toUpperCase().replace(/\W/g, '');
}

/** Starts an Entra ID stand-in on 127.0.0.1 on a free port. */
export async function startEntraStandIn(options: EntraStandInOptions): Promise<EntraStandIn> {
  const Provider = await loadProvider();
  const { tenantId, clientId } = options;
  const audience = options.audience ?? `api://${clientId}`;
  const resourceId = `api://${clientId}`;
  const defaultRoles = options.roles ?? ['DeployR.Technician'];
  const prefix = `/${tenantId}/v2.0`;
  const accounts = new Map<string, ApproveOptions>();
  const store = new Map<string, Payload>();

  const signing = await generateKeyPair('RS256', { extractable: true });
  const kid = `standin-${randomUUID().slice(0, 8)}`;
  const privateJwk: JWK = { ...(await exportJWK(signing.privateKey)), kid, alg: 'RS256', use: 'sig' };

  // The server must listen before the provider exists (the issuer carries the port), so it routes through this.
  const route: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    const { handler } = route;
    if (handler && (url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`))) {
      // oidc-provider works out its mount path from originalUrl versus url (as under Express).
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
      req.url = url.slice(prefix.length) || '/';
      handler(req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const authority = `http://127.0.0.1:${port}`;
  const issuer = `${authority}${prefix}`;

  const claimsFor = (accountId: string | undefined): Record<string, unknown> => {
    const account = accountId === undefined ? undefined : accounts.get(accountId);
    const roles = account?.roles ?? defaultRoles;
    return {
      tid: options.tokenTenantId ?? tenantId,
      oid: account?.objectId ?? accountId,
      ver: '2.0',
      ...(roles.length > 0 ? { roles } : {}),
      ...(account?.name !== undefined ? { name: account.name } : {}),
      ...(account?.username !== undefined ? { preferred_username: account.username } : {}),
    };
  };

  const provider = new Provider(issuer, {
    adapter: createAdapterFactory(store),
    jwks: { keys: [privateJwk] },
    clients: [
      {
        client_id: clientId,
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'none',
      },
    ],
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resourceId,
        getResourceServerInfo: () => ({
          scope: 'access',
          audience,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
        useGrantedResource: () => true,
      },
    },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      DeviceCode: options.deviceCodeTtl ?? 600,
      Grant: 3600,
      IdToken: 3600,
      RefreshToken: 86400,
      Interaction: 600,
      Session: 3600,
    },
    extraTokenClaims: (_ctx: unknown, token: TokenLike) => claimsFor(token.accountId),
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => {
        const account = accounts.get(sub);
        return {
          sub,
          ...(account?.name !== undefined ? { name: account.name } : {}),
          ...(account?.username !== undefined ? { preferred_username: account.username } : {}),
        };
      },
    }),
  });

  let slowDownBelowMs = options.slowDownBelowMs ?? 0;
  let lastRequestAt = 0;
  let tokenRequests = 0;
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && (ctx.path === '/token' || ctx.path === '/device/auth')) {
      const at = Date.now();
      const previous = lastRequestAt;
      lastRequestAt = at;
      if (ctx.path === '/token') {
        tokenRequests++;
        if (slowDownBelowMs > 0 && at - previous < slowDownBelowMs) {
          ctx.status = 400;
          ctx.body = { error: 'slow_down', error_description: 'polling too fast' };
          return;
        }
      }
    }
    await next();
  });
  route.handler = provider.callback();

  async function findCode(userCode: string): Promise<DeviceCodeModel> {
    const code = await provider.DeviceCode.findByUserCode(normalizeUserCode(userCode));
    if (!code) throw new Error(`stand-in: no pending device code for user code ${userCode}`);
    return code;
  }

  return {
    authority,
    issuer,
    audience,
    get slowDownBelowMs() {
      return slowDownBelowMs;
    },
    set slowDownBelowMs(ms: number) {
      slowDownBelowMs = ms;
    },
    get tokenRequests() {
      return tokenRequests;
    },

    async approve(userCode, accountId, approveOptions = {}) {
      accounts.set(accountId, approveOptions);
      const code = await findCode(userCode);
      const grant = new provider.Grant({ clientId, accountId });
      grant.addOIDCScope('openid');
      grant.addResourceScope(resourceId, 'access');
      code.grantId = await grant.save();
      code.resource = resourceId;
      code.scope = 'openid access';
      code.accountId = accountId;
      code.authTime = Math.floor(Date.now() / 1000);
      await code.save();
    },

    async deny(userCode) {
      const code = await findCode(userCode);
      code.error = 'access_denied';
      code.errorDescription = 'End-User aborted interaction';
      await code.save();
    },

    async expire(userCode) {
      const wanted = normalizeUserCode(userCode);
      for (const [k, p] of store) {
        if (k.startsWith('DeviceCode:') && p['userCode'] === wanted) {
          p['exp'] = Math.floor(Date.now() / 1000) - 1;
          return;
        }
      }
      throw new Error(`stand-in: no device code for user code ${userCode}`);
    },

    async mintToken(claims = {}, mintOptions = {}) {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const expiresIn = mintOptions.expiresIn ?? 3600;
      const payload: Record<string, unknown> = {
        iss: issuer,
        aud: audience,
        sub: 'minted-user',
        oid: 'minted-user',
        azp: clientId,
        tid: options.tokenTenantId ?? tenantId,
        roles: defaultRoles,
        ver: '2.0',
        iat: nowSeconds,
        nbf: nowSeconds,
        exp: nowSeconds + expiresIn,
        ...claims,
      };
      for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
      const key: CryptoKey = mintOptions.signWithUnknownKey ? await unpublishedKey() : signing.privateKey;
      const headerKid = mintOptions.kid ?? (mintOptions.signWithUnknownKey ? 'unknown-key' : kid);
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: headerKid }).sign(key);
    },

    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
