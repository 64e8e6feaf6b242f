// The one table from stable error codes to HTTP statuses, and the error handler that applies it.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../api/contract.js';
import { DeployrError, type ErrorCode } from '../domain/errors.js';

/** Each error code's HTTP status. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  AUTH_FAILED: 401,
  TOKEN_INVALID: 401,
  AUTH_THROTTLED: 429,
  AUTH_NOT_CONFIGURED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  INVALID_INPUT: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PASSCODE_REJECTED: 400,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  INTEGRITY: 500,
  INTERNAL: 500,
};

/** An error body. */
export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/**
 * The answer to errors fastify raises before routing (a URL with bad percent-encoding): the same
 * 400 and error body as any other invalid request. Pass as fastify's `frameworkErrors` option.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_BAD_URL' ? 'The URL is not valid (bad percent-encoding).' : 'Bad request.';
  void reply.code(400).send(errorBody('INVALID_INPUT', message));
}

/**
 * The answer to errors Node's HTTP parser raises before fastify sees a request (a request past
 * its time limit, headers too large, bytes that are not HTTP): the same error body as any other
 * error, then the connection is closed. Pass as fastify's `clientErrorHandler` option.
 *
 * A connection already closing after an earlier error (its peer has not read that answer, and the
 * request-time check fires again) is cut at once: one answer per connection, and no listener piling
 * up on a socket a client keeps open by not reading.
 */
export function clientErrors(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writableEnded) { socket.destroy(); return; }
  const [status, code, message]: [number, string, string] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time; the connection is closed.']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'INVALID_INPUT', 'The request headers are too large.']
    : [400, 'INVALID_INPUT', 'The request is not valid HTTP.'];
  const body = JSON.stringify(errorBody(code, message));
  // Node keeps the request's response on `_httpMessage`; once its head is sent, an answer now would land inside it.
  const responseInProgress = (socket as Socket & { _httpMessage?: { headersSent: boolean } | null })._httpMessage?.headersSent === true;
  if (socket.writable && !responseInProgress) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroySoon();
}

/** Installs the error and not-found handlers: expected errors keep their code, anything else is a logged 500. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('NOT_FOUND', `No such endpoint: ${req.method} ${req.url.split('?')[0]}`));
  });
  app.setErrorHandler((err: FastifyError | DeployrError | Error, req, reply) => {
    if (err instanceof DeployrError) {
      const status = STATUS_OF[err.code];
      if (err.code === 'AUTH_THROTTLED' && typeof err.details.retryAfterSeconds === 'number') {
        void reply.header('retry-after', String(err.details.retryAfterSeconds));
      }
      if (status >= 500) req.log.error({ err }, 'request failed');
      return reply.code(status).send(errorBody(err.code, err.message));
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send(errorBody('INVALID_INPUT', `Invalid request: ${fe.message}`));
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const message = fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'The request body is too large.'
        : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'The request body must be JSON (content-type: application/json).'
        : fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'The request body is empty; JSON was expected.'
        : /JSON|Unexpected|token/i.test(fe.message) ? 'The request body is not valid JSON.'
        : fe.message.split('\n')[0] ?? 'Bad request.';
      return reply.code(fe.statusCode).send(errorBody(fe.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_INPUT', message));
    }
    req.log.error({ err }, 'unexpected error');
    return reply.code(500).send(errorBody('INTERNAL', 'Internal error; see the service log.'));
  });
}
