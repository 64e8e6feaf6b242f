// POST/GET/DELETE /v1/admin/session: console sign-in (throttled, audited), who is signed in, sign-out.

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ADMIN_ROLES } from '../../../domain/administrator.js';
import { adminOf, sessionCookieHeader } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

/** The sign-in body. */
export const SignInSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
}, { additionalProperties: false });

/** Who is signed in. */
export const SessionSchema = Type.Object({
  name: Type.String(),
  role: Type.Union(ADMIN_ROLES.map((r) => Type.Literal(r))),
  csrfToken: Type.String({ description: 'send it back in X-CSRF-Token on every POST, PUT and DELETE' }),
  expiresAt: Type.String({ format: 'date-time' }),
  idleExpiresAt: Type.String({ format: 'date-time' }),
});

/** Registers the session routes. */
export function registerSessionRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const { sessions } = deps;
  app.post('/v1/admin/session', {
    config: { adminPublic: true },
    schema: { summary: 'Sign in to the console (sets the deployr_admin cookie)', tags: ['admin: session'], body: SignInSchema, response: { 204: Type.Null() } },
  }, async (req, reply) => {
    const body = req.body as Static<typeof SignInSchema>;
    const { token } = await sessions.signIn({ name: body.name, password: body.password, address: req.ip });
    void reply.header('set-cookie', sessionCookieHeader(token, sessions.sessionPolicy.maxSeconds));
    return reply.code(204).send();
  });

  app.get('/v1/admin/session', {
    config: { adminRole: 'viewer' },
    schema: { summary: 'Who is signed in, the role, and the CSRF token', tags: ['admin: session'], response: { 200: SessionSchema } },
  }, async (req): Promise<Static<typeof SessionSchema>> => {
    const a = adminOf(req);
    return { name: a.name, role: a.role, csrfToken: a.csrfToken, expiresAt: new Date(a.expiresAt).toISOString(), idleExpiresAt: new Date(a.idleExpiresAt).toISOString() };
  });

  app.delete('/v1/admin/session', {
    config: { adminRole: 'viewer' },
    schema: { summary: 'Sign out', tags: ['admin: session'], response: { 204: Type.Null() } },
  }, async (req, reply) => {
    await sessions.signOut(adminOf(req), req.ip);
    void reply.header('set-cookie', sessionCookieHeader(null, 0));
    return reply.code(204).send();
  });
}
