// The authentication hook: every route not marked public needs a valid bearer token issued by this service.

import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { LoginService } from '../auth/login-service.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import { peerCertificate, type PeerCertificate } from './peer-certificate.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * Returns the onRequest hook that sets `req.principal` or refuses with 401. `peerOf` reads the
 * connection's client certificate (a certificate-bound token is checked against it on every request).
 * A token seen before is answered without waiting (`LoginService.authenticateCached`); protected
 * reads are the service's most frequent requests.
 */
export function authenticationHook(login: LoginService, peerOf: (req: FastifyRequest) => PeerCertificate = peerCertificate) {
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (req.routeOptions.config?.public === true || !req.routeOptions.url) { done(); return; } // unknown route: the 404 handler answers
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
