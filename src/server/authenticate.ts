// The authentication hook: every route not marked public needs a valid bearer token issued by this service.

import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify';
import type { LoginService } from '../auth/login-service.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import { peerCertificate, type PeerCertificate } from './peer-certificate.js';

// The scheme is case-insensitive (RFC 9110 section 11.1): `bearer` and `BEARER` work as `Bearer` does.
const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i;

/**
 * Returns the onRequest hook that sets `req.principal` or refuses with 401; `requireTokens` puts it
 * on every route not marked public. With `isCurrentConnection`, a connection set up under an older
 * client-certificate trust gets `Connection: close` on its response (also when refused). `peerOf` reads the connection's client certificate (a
 * certificate-bound token is checked against it on every request). A token seen before is answered
 * without waiting (`LoginService.authenticateCached`): protected reads are the service's most
 * frequent requests.
 */
export function authenticationHook(login: LoginService, peerOf: (req: FastifyRequest) => PeerCertificate = peerCertificate, isCurrentConnection?: (socket: object) => boolean) {
  // A kept-alive connection sends the same Authorization header on each request: the token parsed
  // from it last time is reused (the same string, so the token lookup does not hash it again).
  const lastToken = new WeakMap<object, { header: string; token: string }>();
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const socket = req.raw.socket;
    if (isCurrentConnection && !isCurrentConnection(socket)) void reply.header('connection', 'close');
    const header = req.headers.authorization;
    const last = lastToken.get(socket);
    let token: string | undefined;
    if (last !== undefined && last.header === header) token = last.token;
    else {
      token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
      if (token !== undefined) lastToken.set(socket, { header: header as string, token });
    }
    if (!token) { done(new DeployrError('TOKEN_INVALID', 'This endpoint needs a token: sign in first (Authorization: Bearer <token>).')); return; }
    const peer = (): PeerCertificate => peerOf(req);
    const address = (): string => req.ip;
    let principal: Principal | null;
    try {
      principal = login.authenticateCached(token, peer, address);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (principal) {
      req.principal = principal;
      done();
      return;
    }
    login.authenticate(token, peer, address).then((p) => { req.principal = p; done(); }, (err: Error) => done(err));
  };
}

/** The onRequest hook of public routes when the service follows client-certificate trust: an outdated connection gets `Connection: close`. */
export function staleConnectionHook(isCurrentConnection: (socket: object) => boolean) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (!isCurrentConnection(req.raw.socket)) void reply.header('connection', 'close');
    done();
  };
}

/**
 * Puts `hook` first among the onRequest hooks of every route registered from now on, except those
 * with `config: { public: true }`, which get `publicHook` (if any) instead. Unknown paths have no
 * route, so the 404 answer needs no token. (Deciding per route once, rather than per request, keeps
 * the cost off every request, and each request runs one hook.)
 */
export function requireTokens(app: FastifyInstance, hook: ReturnType<typeof authenticationHook>, publicHook?: ReturnType<typeof staleConnectionHook> | false): void {
  app.addHook('onRoute', (route) => {
    const config = route.config as { public?: boolean; adminRole?: string; adminPublic?: boolean } | undefined;
    // Admin routes take a console session instead (admin-guard.ts): a bearer token never opens them.
    const admin = config?.adminRole !== undefined || config?.adminPublic === true;
    const first = config?.public === true || admin ? publicHook : hook;
    if (!first) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [first as onRequestHookHandler, ...own];
  });
}
