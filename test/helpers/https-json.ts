// Test helper: plain HTTPS JSON requests to the service, trusting its certificate (and optionally presenting a client certificate).

import { request } from 'node:https';

/** A response with its parsed body. */
export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: unknown;
}

/** Sends a request; `body` as a string is sent raw (for malformed-input tests), anything else as JSON. */
export function httpsJson(url: string, options: { method?: string; body?: unknown; token?: string; ca?: string; cert?: string; key?: string; headers?: Record<string, string>; localAddress?: string } = {}): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const headers: Record<string, string> = { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const req = request(url, {
      method: options.method ?? (payload !== undefined ? 'POST' : 'GET'), headers, agent: false,
      ...(options.ca ? { ca: options.ca } : { rejectUnauthorized: false }),
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => {
        let body: unknown = null;
        try { body = text ? JSON.parse(text) : null; } catch { body = text; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}
