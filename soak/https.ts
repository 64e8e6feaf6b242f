// One HTTPS request for the soak: raw body, chosen source address, a deadline, and what came back (or why nothing did).

import { request, type Agent } from 'node:https';

/** What a soak request got. */
export interface SoakAnswer {
  /** The status, or 0 when the connection failed (then `error` says how). */
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
  /** Milliseconds until the status line arrived. */
  headersMs: number;
  /** Milliseconds until the whole answer arrived. */
  totalMs: number;
  /** Set when nothing (or not all) came back: a connection error, or `timeout` when the deadline passed. */
  error?: string;
  /** True when the request went on a kept-alive connection that was used before (a reset there is the usual keep-alive race). */
  reusedSocket?: boolean;
}

/** How to send one request. */
export interface SoakRequest {
  port: number;
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent raw (a content-type is not added). */
  body?: string | Buffer;
  /** Bind this local address (127.x.y.z) so the service sees another source. */
  localAddress?: string;
  agent?: Agent | false;
  /** The answer must be complete within this (default 15 s), or it is a `timeout`. */
  timeoutMs?: number;
  /** Send the body in this many pieces, `slowMs` apart (a slow client). */
  slowPieces?: number;
  slowMs?: number;
  /** An event stream: stop reading once the status line came (the stream never ends by itself). */
  stream?: boolean;
}

/** Sends the request; never rejects (a failure is in `error`). */
export function soakRequest(r: SoakRequest): Promise<SoakAnswer> {
  const started = performance.now();
  return new Promise((resolve) => {
    let headersMs = -1;
    let done = false;
    const finish = (a: Omit<SoakAnswer, 'totalMs' | 'headersMs'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...a, headersMs, totalMs: performance.now() - started, reusedSocket: req.reusedSocket });
    };
    const req = request({
      host: '127.0.0.1', port: r.port, method: r.method, path: r.path, headers: r.headers ?? {}, rejectUnauthorized: false,
      agent: r.agent ?? false, ...(r.localAddress ? { localAddress: r.localAddress } : {}),
    }, (res) => {
      headersMs = performance.now() - started;
      const chunks: Buffer[] = [];
      const contentType = String(res.headers['content-type'] ?? '');
      if (r.stream || contentType.startsWith('text/event-stream')) {
        finish({ status: res.statusCode ?? 0, text: '', headers: res.headers });
        res.destroy();
        req.destroy();
        return;
      }
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', (e) => finish({ status: res.statusCode ?? 0, text: '', headers: res.headers, error: e.message }));
    });
    const timer = setTimeout(() => {
      finish({ status: 0, text: '', headers: {}, error: 'timeout' });
      req.destroy();
    }, r.timeoutMs ?? 15_000);
    req.on('error', (e) => finish({ status: 0, text: '', headers: {}, error: (e as NodeJS.ErrnoException).code ?? e.message }));
    if (r.body === undefined) { req.end(); return; }
    const body = Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
    const pieces = Math.max(1, r.slowPieces ?? 1);
    if (pieces === 1) { req.end(body); return; }
    const size = Math.ceil(body.length / pieces);
    let at = 0;
    const step = (): void => {
      if (done) return;
      if (at + size >= body.length) { req.end(body.subarray(at)); return; }
      req.write(body.subarray(at, at + size));
      at += size;
      setTimeout(step, r.slowMs ?? 50);
    };
    step();
  });
}

/** A JSON login body for the passcode endpoint. */
export function loginBody(passcode: string, deviceId: string, context: 'boot' | 'fullos' = 'boot'): string {
  return JSON.stringify({ passcode, context, deviceId });
}

/** The token id (`jti`) of a token, read from its payload (not verified: the soak only matches it to audit rows). */
export function tokenIdOf(token: string): string {
  const payload = token.split('.')[1] ?? '';
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti: string }).jti;
}
