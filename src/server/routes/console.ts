// Serves the web console's files (built from src/web into dist/web) at /console/, with strict security headers.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorBody } from '../error-status.js';
import '../openapi.js';

/** Where `npm run build` puts the console (dist/web). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../web', import.meta.url));

/** The Content-Security-Policy of every console response: only this server's own script and style, no inline script, no framing. */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const FILES = ['index.html', 'console.js', 'console.css'];

/** Sets the console's security headers. */
export function consoleHeaders(reply: FastifyReply): FastifyReply {
  return reply.header('content-security-policy', CONSOLE_CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY').header('cross-origin-opener-policy', 'same-origin').header('cache-control', 'no-cache');
}

/** Registers /console/ (the files are read once, at start; without a build the pages answer 404 with the reason). */
export function registerConsoleRoutes(app: FastifyInstance, dir: string = CONSOLE_DIR): void {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of FILES) {
    try { files.set(name, { body: readFileSync(join(dir, name)), type: TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream' }); } catch { /* not built */ }
  }
  const send = (reply: FastifyReply, name: string): FastifyReply => {
    consoleHeaders(reply);
    const f = files.get(name);
    if (!f) return reply.code(404).send(errorBody('NOT_FOUND', files.size === 0 ? 'The console is not built on this server (npm run build makes dist/web).' : 'No such console file.'));
    return reply.type(f.type).send(f.body);
  };
  const config = { public: true };
  app.get('/console', { config, schema: { hide: true } }, async (_req, reply) => consoleHeaders(reply).redirect('/console/'));
  app.get('/console/', { config, schema: { hide: true } }, async (_req, reply) => send(reply, 'index.html'));
  app.get('/console/:file', { config, schema: { hide: true } }, async (req, reply) => send(reply, (req.params as { file: string }).file));
}
