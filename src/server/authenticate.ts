// The authentication hook: every route not marked public needs a valid bearer token issued by this service.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoginService } from '../auth/login-service.js';
import { DeployrError } from '../domain/errors.js';
import { peerCertificate, type PeerCertificate } from './peer-certificate.js';

/**
 * Returns the onRequest hook that sets `req.principal` or refuses with 401. `peerOf` reads the
 * connection's client certificate (a certificate-bound token is checked against it on every request).
 */
export function authenticationHook(login: LoginService, peerOf: (req: FastifyRequest) => PeerCertificate = peerCertificate) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (req.routeOptions.config?.public === true) return;
    if (!req.routeOptions.url) return; // unknown route: the 404 handler answers
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header) : null;
    if (!match?.[1]) throw new DeployrError('TOKEN_INVALID', 'This endpoint needs a token: sign in first (Authorization: Bearer <token>).');
    req.principal = await login.authenticate(match[1], peerOf(req));
  };
}
