// GET/HEAD /Content/Boot/*: the boot media (kernel, initrd, iPXE script, ISO, media.json), open without a token since they hold no secret.

import { open } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DeployrError } from '../../domain/errors.js';
import { errorBody } from '../error-status.js';
import { sendBlob } from '../send-blob.js';
import { noneMatch, parseRange } from './content-items.js';

/** DeployR's path for boot media. */
export const BOOT_MEDIA_BASE = '/Content/Boot';

/** The files published, and their content types. Nothing else under the media folder is ever served. */
const BOOT_FILES: Readonly<Record<string, string>> = {
  'boot.ipxe': 'text/plain; charset=utf-8',
  vmlinuz: 'application/octet-stream',
  initrd: 'application/octet-stream',
  'deployr.iso': 'application/x-iso9660-image',
  'media.json': 'application/json; charset=utf-8',
};

/** Registers the boot media routes, serving files from `mediaDir` (Range, If-Range, ETag, If-None-Match, HEAD). */
export function registerBootMediaRoutes(app: FastifyInstance, mediaDir: string): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: `${BOOT_MEDIA_BASE}/:name`,
    config: { public: true },
    handler: async (req, reply) => {
      const { name } = req.params as { name: string };
      const type = Object.hasOwn(BOOT_FILES, name) ? BOOT_FILES[name] : undefined;
      if (!type) throw new DeployrError('NOT_FOUND', `No boot file ${BOOT_MEDIA_BASE}/${name}; the files are ${Object.keys(BOOT_FILES).join(', ')}.`);
      let file;
      try {
        file = await open(join(mediaDir, name), 'r');
      } catch {
        throw new DeployrError('NOT_FOUND', `${BOOT_MEDIA_BASE}/${name} is not published: build the media with  deployr media build`);
      }
      let handedOver = false;
      try {
        const st = await file.stat();
        const size = st.size;
        // A build replaces each file by a rename: size and modification time identify the content.
        const etag = `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
        void reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'no-cache').header('content-type', type);
        const ifNoneMatch = req.headers['if-none-match'];
        if (typeof ifNoneMatch === 'string' && noneMatch(ifNoneMatch, etag)) return reply.code(304).send();
        const ifRange = req.headers['if-range'];
        const rangeHeader = typeof req.headers.range === 'string' && (ifRange === undefined || String(ifRange).trim() === etag) ? req.headers.range : undefined;
        const range = rangeHeader === undefined ? null : parseRange(rangeHeader, size);
        if (range === 'unsatisfiable') {
          void reply.code(416).header('content-range', `bytes */${size}`).header('content-type', 'application/json; charset=utf-8');
          return reply.send(errorBody('INVALID_INPUT', `The range ${rangeHeader ?? ''} is outside the file (${size} bytes).`));
        }
        if (range) void reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
        const length = range ? range.end - range.start + 1 : size;
        void reply.header('content-length', String(length));
        if (req.method === 'HEAD' || length === 0) return reply.send();
        reply.hijack();
        reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
        const handle = file;
        handedOver = true;
        sendBlob(reply.raw, {
          read: async (buffer, len, position) => (await handle.read(buffer, 0, len, position)).bytesRead,
          close: () => handle.close(),
        }, range?.start ?? 0, range?.end ?? size - 1, (err) => req.log.warn({ err, name }, 'boot file delivery stopped'));
        return reply;
      } finally {
        if (!handedOver) await file.close();
      }
    },
  });
}
