// /v1/admin/administrators: the admin role manages administrators through the same use cases as `deployr admin`.

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ADMIN_NAME_PATTERN, ADMIN_ROLES } from '../../../domain/administrator.js';
import { actorOf } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

const Role = Type.Union(ADMIN_ROLES.map((r) => Type.Literal(r)));
const NameParams = Type.Object({ name: Type.String({ pattern: ADMIN_NAME_PATTERN }) });
const AddSchema = Type.Object({ name: Type.String({ pattern: ADMIN_NAME_PATTERN }), role: Role, password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false });
const RoleSchema = Type.Object({ role: Role }, { additionalProperties: false });
const PasswordSchema = Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false });
const SummarySchema = Type.Object({ name: Type.String(), role: Role, createdAt: Type.String(), passwordChangedAt: Type.String() });

/** Registers the administrator routes (admin role only). */
export function registerAdministratorRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const tags = ['admin: administrators'];
  const config = { adminRole: 'admin' as const };
  const nameOf = (req: FastifyRequest): string => (req.params as { name: string }).name;
  app.get('/v1/admin/administrators', { config, schema: { summary: 'Administrators (never a password or hash)', tags, response: { 200: Type.Object({ administrators: Type.Array(SummarySchema) }) } } },
    async () => ({ administrators: await deps.administrators.list() }));
  app.post('/v1/admin/administrators', { config, schema: { summary: 'Add an administrator', tags, body: AddSchema } }, async (req, reply) => {
    const body = req.body as Static<typeof AddSchema>;
    const { warnings } = await deps.administrators.add(body, actorOf(req));
    void reply.code(201);
    return { name: body.name, role: body.role, warnings };
  });
  app.put('/v1/admin/administrators/:name/role', { config, schema: { summary: "Change a role (the last admin cannot be demoted); the administrator's sessions end", tags, params: NameParams, body: RoleSchema } }, async (req) => {
    await deps.administrators.setRole(nameOf(req), (req.body as Static<typeof RoleSchema>).role, actorOf(req));
    return { name: nameOf(req), role: (req.body as Static<typeof RoleSchema>).role };
  });
  app.put('/v1/admin/administrators/:name/password', { config, schema: { summary: "Set a password; the administrator's sessions end", tags, params: NameParams, body: PasswordSchema } }, async (req) => {
    const { warnings } = await deps.administrators.setPassword(nameOf(req), (req.body as Static<typeof PasswordSchema>).password, actorOf(req));
    return { name: nameOf(req), warnings };
  });
  app.delete('/v1/admin/administrators/:name', { config, schema: { summary: 'Remove an administrator (not the last admin)', tags, params: NameParams } }, async (req, reply) => {
    await deps.administrators.remove(nameOf(req), actorOf(req));
    return reply.code(204).send();
  });
}
