// The authentication hook: every route not marked public needs a valid bearer token issued by this service.

import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify';
import type { LoginService } from '../auth/login-service.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import { peerCertificate, type PeerCertificate } from './peer-certificate.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * Returns the onRequest hook that sets `req.principal` or refuses with 401; `requireTokens` puts it
 * on every route not marked public. `peerOf` reads the connection's client certificate (a
 * certificate-bound token is checked against it on every request). A token seen before is answered
 * without waiting (`LoginService.authenticateCached`): protected reads are the service's most
 * frequent requests.
 */
export function authenticationHook(login: LoginService, peerOf: (req: FastifyRequest) => PeerCertificate = peerCertificate) {
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const header = req.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    if (!token) { done(new DeployrError('TOKEN_INVALID', 'This endpoint needs a token: sign in first (Authorization: Bearer <token>).')); return; }
    const peer = (): PeerCertificate => peerOf(req);
    let principal: Principal | null;
    try {
      principal = login.authenticateCached(token, peer);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (principal) {
      req.principal = principal;
      done();
      return;
    }
    login.authenticate(token, peer).then((p) => { req.principal = p; done(); }, (err: Error) => done(err));
  };
}

/**
 * Puts `hook` first among the onRequest hooks of every route registered from now on, except those
 * with `config: { public: true }`. Unknown paths have no route, so the 404 answer needs no token.
 * (Deciding per route once, rather than per request, keeps the cost off every request.)
 */
export function requireTokens(app: FastifyInstance, hook: ReturnType<typeof authenticationHook>): void {
  app.addHook('onRoute', (route) => {
    if ((route.config as { public?: boolean } | undefined)?.public === true) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [hook as onRequestHookHandler, ...own];
  });
}
