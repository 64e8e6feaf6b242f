// Reads the client certificate a TLS connection presented, when the chain verified against the trusted CAs.

import { createHash, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/** The TLS facts of a request's connection; all empty for plain HTTP. */
export interface PeerCertificate {
  authorized: boolean;
  authorizationError: string | null;
  peer: X509Certificate | undefined;
  /** SHA-256 (hex) of the peer certificate's DER, when the chain verified. */
  thumbprint: string | null;
}

/** The verified peer certificate of the request's connection, if any. */
export function peerCertificate(req: FastifyRequest): PeerCertificate {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerX509Certificate !== 'function') return { authorized: false, authorizationError: null, peer: undefined, thumbprint: null };
  const peer = socket.getPeerX509Certificate();
  const authorized = socket.authorized === true;
  const rawError = socket.authorizationError as unknown;
  const authorizationError = rawError instanceof Error ? ((rawError as NodeJS.ErrnoException).code ?? rawError.message) : typeof rawError === 'string' ? rawError : null;
  const thumbprint = authorized && peer ? createHash('sha256').update(peer.raw).digest('hex') : null;
  return { authorized, authorizationError, peer, thumbprint };
}
