// Test helper: sign in to the admin API like the console does (cookie + CSRF token + same Origin) and send requests with that session.

import { request } from 'node:https';
import type { JsonResponse } from './https-json.js';

/** A signed-in console session against one service. */
export interface AdminClient {
  name: string;
  cookie: string;
  csrf: string;
  /** Sends a request as the console would (Origin of the service, Sec-Fetch-Site same-origin, the CSRF token); `headers` override. */
  send(method: string, path: string, body?: unknown, headers?: Record<string, string | undefined>): Promise<JsonResponse>;
}

/** A raw request to `base + path` (self-signed certificate accepted: the tests pin nothing here). */
export function adminRequest(base: string, method: string, path: string, options: { body?: unknown; headers?: Record<string, string | undefined>; raw?: Buffer } = {}): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.raw ?? (options.body === undefined ? undefined : Buffer.from(typeof options.body === 'string' ? options.body : JSON.stringify(options.body)));
    const headers: Record<string, string> = {};
    if (payload !== undefined && !options.raw) headers['content-type'] = 'application/json';
    for (const [k, v] of Object.entries(options.headers ?? {})) if (v !== undefined) headers[k] = v; else delete headers[k];
    const req = request(base + path, { method, headers, agent: false, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => {
        let parsed: unknown = null;
        try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The Origin a browser sends for pages of this service (https://HOST:PORT as the Host header says it). */
export function originOf(base: string): string {
  return base.replace(/\/$/, '');
}

/** Signs in; throws unless the answer is 204 with the session cookie. */
export async function signIn(base: string, name: string, password: string): Promise<AdminClient> {
  const r = await adminRequest(base, 'POST', '/v1/admin/session', { body: { name, password }, headers: { origin: originOf(base), 'sec-fetch-site': 'same-origin' } });
  if (r.status !== 204) throw new Error(`sign-in of ${name} answered ${r.status}: ${r.text}`);
  const setCookie = [r.headers['set-cookie'] ?? []].flat()[0] ?? '';
  const cookie = setCookie.split(';')[0] as string;
  const s = await adminRequest(base, 'GET', '/v1/admin/session', { headers: { cookie } });
  const csrf = (s.body as { csrfToken: string }).csrfToken;
  return {
    name, cookie, csrf,
    send: (method, path, body, headers = {}) => adminRequest(base, method, path, {
      ...(body !== undefined ? { body } : {}),
      headers: { cookie, origin: originOf(base), 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrf, ...headers },
    }),
  };
}
