// Content item routes: list and read metadata, version metadata, and file delivery by hash (token required).

import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { BlobParamsSchema, CONTENT_PATHS, ContentVersionParamsSchema, IdParamsSchema, PATHS, type ContentItemList, type ContentVersionResponse } from '../../api/contract.js';
import type { ContentCatalog } from '../../engine/content-catalog.js';
import type { ContentLibrary } from '../../engine/content-library.js';
import type { TokenReach } from '../../engine/token-reach.js';
import { DeployrError } from '../../domain/errors.js';
import { errorBody } from '../error-status.js';
import { sendBlob } from '../send-blob.js';

/** Registers the content item routes; a token limited to a task sequence reads only the items in its reach. */
export function registerContentRoutes(app: FastifyInstance, catalog: ContentCatalog, reach: TokenReach): void {
  app.get(PATHS.contentItems, async (req): Promise<ContentItemList> => ({ contentItems: await reach.filterContentItems(req.principal, await catalog.list()) }));
  app.get(`${PATHS.contentItems}/:id`, { schema: { params: IdParamsSchema } }, async (req) => {
    const { id } = req.params as { id: string };
    await reach.assertContentItem(req.principal, id);
    return catalog.get(id);
  });
}

/** A byte range of a file, both ends inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Reads a `Range` header against a file of `size` bytes: one range, `null` when the header is to be
 * ignored (malformed, not bytes, or several ranges: the whole file is sent), `unsatisfiable` for 416.
 */
export function parseRange(header: string, size: number): ByteRange | null | 'unsatisfiable' {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** True when an `If-None-Match` list names this (strong) ETag, weakly compared as RFC 9110 asks, or is `*`. */
export function noneMatch(header: string, etag: string): boolean {
  return header.split(',').map((t) => t.trim().replace(/^W\//, '')).some((t) => t === '*' || t === etag);
}

/** Registers version metadata and file delivery (Range, If-Range, ETag, If-None-Match, HEAD), within the caller's reach. */
export function registerContentDeliveryRoutes(app: FastifyInstance, library: ContentLibrary, reach: TokenReach): void {
  app.get(`${PATHS.contentItems}/:id/versions/:versionNo`, { schema: { params: ContentVersionParamsSchema } }, async (req): Promise<ContentVersionResponse> => {
    const { id, versionNo } = req.params as { id: string; versionNo: string };
    await reach.assertContentItem(req.principal, id);
    const { item, version } = await library.version(id, versionNo === 'active' ? 'active' : Number(versionNo));
    return {
      contentItemId: item.id, name: item.name, contentItemPurpose: item.contentItemPurpose, type: item.type,
      versionNo: version.versionNo, status: version.status, description: version.description,
      installationCommandLine: version.installationCommandLine, driverManufacturer: version.driverManufacturer, driverModel: version.driverModel,
      format: version.format ?? null,
      files: version.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    };
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: `${CONTENT_PATHS.blobBase}/:sha256`,
    schema: { params: BlobParamsSchema },
    handler: async (req, reply) => {
      const blob = await library.blob((req.params as { sha256: string }).sha256);
      // The same answer as for a file no content version lists: a limited token learns nothing.
      if (!(await reach.mayReadBlob(req.principal, blob.sha256))) throw new DeployrError('NOT_FOUND', `No content file with hash ${blob.sha256}.`);
      const etag = `"${blob.sha256}"`;
      void reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'private, max-age=31536000, immutable');
      const ifNoneMatch = req.headers['if-none-match'];
      if (typeof ifNoneMatch === 'string' && noneMatch(ifNoneMatch, etag)) return reply.code(304).send();
      const ifRange = req.headers['if-range'];
      const rangeHeader = typeof req.headers.range === 'string' && (ifRange === undefined || String(ifRange).trim() === etag) ? req.headers.range : undefined;
      const range = rangeHeader === undefined ? null : parseRange(rangeHeader, blob.size);
      if (range === 'unsatisfiable') {
        void reply.code(416).header('content-range', `bytes */${blob.size}`);
        return reply.send(errorBody('INVALID_INPUT', `The range ${rangeHeader ?? ''} is outside the file (${blob.size} bytes).`));
      }
      void reply.header('content-type', 'application/octet-stream');
      if (range) void reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${blob.size}`);
      const length = range ? range.end - range.start + 1 : blob.size;
      void reply.header('content-length', String(length));
      if (req.method === 'HEAD' || length === 0) return reply.send();
      const reader = await blob.open();
      // The body is written to the connection directly, through reused buffers (send-blob.ts).
      reply.hijack();
      reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
      sendBlob(reply.raw, reader, range?.start ?? 0, range?.end ?? blob.size - 1, (err) => req.log.warn({ err, sha256: blob.sha256 }, 'content file delivery stopped'));
      return reply;
    },
  });
}
