// /v1/admin/content: items and versions (viewer reads; operator creates, uploads a version streamed, activates, deletes, collects garbage).

import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DeployrError } from '../../../domain/errors.js';
import type { ContentLibrary } from '../../../engine/content-library.js';
import type { ContentLifecycle } from '../../../engine/content-lifecycle.js';
import { actorOf } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const VersionParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }), version: Type.String({ pattern: '^[1-9][0-9]{0,8}$' }) });
const ForceQuery = Type.Object({ force: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: false });
const CreateSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }), purpose: Type.String({ maxLength: 40 }), type: Type.String({ maxLength: 40 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
}, { additionalProperties: false });
const UploadQuery = Type.Object({
  fileName: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/\\\\\\x00-\\x1f]+$', description: 'the file name the version keeps' }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  installCommand: Type.Optional(Type.String({ maxLength: 2000 })),
}, { additionalProperties: false });
const GcSchema = Type.Object({
  dryRun: Type.Optional(Type.Boolean()), graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 * 86400 })),
}, { additionalProperties: false });

function need<T>(value: T | undefined): T {
  if (value === undefined) throw new DeployrError('UNAVAILABLE', 'The content library is not available on this server.');
  return value;
}

/** Registers the content routes; uploads are `application/octet-stream` bodies streamed to disk, never held in memory. */
export function registerContentAdminRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const tags = ['admin: content'];
  const library = (): ContentLibrary => need(deps.contentLibrary);
  const lifecycle = (): ContentLifecycle => need(deps.contentLifecycle);
  const versionOf = (req: FastifyRequest): { id: string; version: number } => {
    const p = req.params as Static<typeof VersionParams>;
    return { id: p.id, version: Number(p.version) };
  };
  const force = (req: FastifyRequest): boolean => (req.query as Static<typeof ForceQuery>).force === 'true';

  // The upload body is handed over as the request stream (this parser is scoped to the admin routes).
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  app.get('/v1/admin/content', { config: { adminRole: 'viewer' }, schema: { summary: 'Content items', tags } }, async () => ({ contentItems: await deps.content.list() }));
  app.get('/v1/admin/content/:id', { config: { adminRole: 'viewer' }, schema: { summary: 'One content item with its versions and files', tags, params: IdParams } },
    async (req) => deps.content.get((req.params as { id: string }).id));
  app.post('/v1/admin/content', { config: { adminRole: 'operator' }, schema: { summary: 'Create a content item', tags, body: CreateSchema } }, async (req, reply) => {
    const body = req.body as Static<typeof CreateSchema>;
    const item = await deps.content.create(body, actorOf(req));
    void reply.code(201);
    return item;
  });

  app.post('/v1/admin/content/:id/versions', {
    config: { adminRole: 'operator' },
    schema: { summary: 'Upload a version (the body is the file, application/octet-stream; streamed to disk)', tags, params: IdParams, querystring: UploadQuery },
  }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const q = req.query as Static<typeof UploadQuery>;
    if (q.fileName === '.' || q.fileName === '..') throw new DeployrError('INVALID_INPUT', 'The file name is not valid.');
    const body = req.body as Readable | undefined;
    if (!body || typeof (body as Readable).pipe !== 'function') throw new DeployrError('INVALID_INPUT', 'Send the file as the body with content-type application/octet-stream.');
    const item = await deps.content.get(id);
    const folder = join(deps.uploadDir, randomBytes(12).toString('hex'));
    await mkdir(folder, { recursive: true, mode: 0o700 });
    try {
      const file = join(folder, q.fileName);
      await pipeline(body, createWriteStream(file, { mode: 0o600 }));
      const version = await library().addVersion(id, item.type === 'Folder' ? folder : file, {
        ...(q.description !== undefined ? { description: q.description } : {}),
        ...(q.installCommand !== undefined ? { installationCommandLine: q.installCommand } : {}),
      }, actorOf(req));
      void reply.code(201);
      return version;
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  app.post('/v1/admin/content/:id/versions/:version/activate', { config: { adminRole: 'operator' }, schema: { summary: 'Make a version active', tags, params: VersionParams } }, async (req) => {
    const { id, version } = versionOf(req);
    return library().activate(id, version, actorOf(req));
  });
  app.post('/v1/admin/content/:id/versions/:version/deactivate', { config: { adminRole: 'operator' }, schema: { summary: 'Make a version inactive', tags, params: VersionParams, querystring: ForceQuery } }, async (req) => {
    const { id, version } = versionOf(req);
    return lifecycle().deactivate(id, version, actorOf(req), { force: force(req) });
  });
  app.delete('/v1/admin/content/:id/versions/:version', { config: { adminRole: 'operator' }, schema: { summary: 'Delete an inactive version', tags, params: VersionParams, querystring: ForceQuery } }, async (req) => {
    const { id, version } = versionOf(req);
    return lifecycle().deleteVersion(id, version, actorOf(req), { force: force(req) });
  });
  app.delete('/v1/admin/content/:id', { config: { adminRole: 'operator' }, schema: { summary: 'Delete a content item whose versions are all inactive', tags, params: IdParams, querystring: ForceQuery } }, async (req) => {
    const { item, uses } = await lifecycle().deleteItem((req.params as { id: string }).id, actorOf(req), { force: force(req) });
    return { deleted: item.id, uses };
  });
  app.post('/v1/admin/content/gc', { config: { adminRole: 'operator' }, schema: { summary: 'Remove library files no version lists', tags, body: GcSchema } }, async (req) => {
    const body = req.body as Static<typeof GcSchema>;
    return lifecycle().collectGarbage(actorOf(req), { dryRun: body.dryRun === true, ...(body.graceSeconds !== undefined ? { graceMs: body.graceSeconds * 1000 } : {}) });
  });
}
