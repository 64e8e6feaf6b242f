// /v1/admin/media: what boot media are published with download links (viewer), and building them in the background (operator).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DeployrError } from '../../../domain/errors.js';
import type { BootMediaJobs } from '../../../engine/boot-media.js';
import { actorOf } from '../../admin-guard.js';
import { BOOT_MEDIA_BASE } from '../boot-media.js';
import type { AdminApiDeps } from './deps.js';

const BuildSchema = Type.Object({
  server: Type.Optional(Type.String({ minLength: 8, maxLength: 300, description: 'the URL the media look for, https://HOST[:PORT] (default: the address this request came to)' })),
  noprompt: Type.Optional(Type.Boolean({ description: 'no menu on the ISO' })),
  secureBoot: Type.Optional(Type.Boolean({ description: "Debian's signed shim → GRUB chain (default true)" })),
  zstdLevel: Type.Optional(Type.Integer({ minimum: 1, maximum: 19, description: 'initrd compression: 1 fast … 19 small (default 10)' })),
}, { additionalProperties: false });

/** The address the console reached the service at, as the media's default server URL. */
function requestOrigin(req: FastifyRequest): string {
  const host = req.headers.host;
  if (!host || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) throw new DeployrError('INVALID_INPUT', 'Give server (https://HOST:PORT): this request names no usable host.');
  return `https://${host}`;
}

/** Registers the boot media routes of the admin API. */
export function registerMediaAdminRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const tags = ['admin: boot media'];
  const jobs = (): BootMediaJobs => {
    if (!deps.bootMedia) throw new DeployrError('UNAVAILABLE', 'Boot media cannot be built by this server (use deployr media build on it).');
    return deps.bootMedia;
  };

  app.get('/v1/admin/media/status', { config: { adminRole: 'viewer' }, schema: { summary: 'What is published under /Content/Boot (with download links) and the last build started here', tags } }, async () => {
    const media = jobs();
    const published = await media.published(deps.tlsFingerprint ?? null);
    return {
      ...published,
      files: published.files.map((f) => ({ ...f, url: `${BOOT_MEDIA_BASE}/${f.name}` })),
      manifestUrl: published.published ? `${BOOT_MEDIA_BASE}/media.json` : null,
      job: media.lastJob(),
    };
  });

  app.post('/v1/admin/media/build', { config: { adminRole: 'operator' }, schema: { summary: 'Build boot media in the background (202; follow it with GET /v1/admin/media/status)', tags, body: BuildSchema } }, async (req, reply) => {
    const body = req.body as Static<typeof BuildSchema>;
    const fingerprint = deps.tlsFingerprint;
    if (!fingerprint) throw new DeployrError('UNAVAILABLE', 'The service certificate is not known here; build the media with deployr media build.');
    const job = await jobs().start({
      server: body.server ?? requestOrigin(req), fingerprint,
      ...(body.noprompt !== undefined ? { noprompt: body.noprompt } : {}),
      ...(body.secureBoot !== undefined ? { secureBoot: body.secureBoot } : {}),
      ...(body.zstdLevel !== undefined ? { zstdLevel: body.zstdLevel } : {}),
    }, actorOf(req));
    void reply.code(202);
    return { job };
  });
}
