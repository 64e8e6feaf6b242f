// /v1/admin/passcodes: scoped passcodes through the same use case as `deployr passcode` (viewer lists, admin adds and revokes).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DeployrError } from '../../../domain/errors.js';
import { SCOPED_PASSCODE_NAME_PATTERN } from '../../../domain/scoped-passcode.js';
import { actorOf } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([Type.Null(), t]);
const Context = Type.Union([Type.Literal('boot'), Type.Literal('fullos')]);
const NameParams = Type.Object({ name: Type.String({ pattern: SCOPED_PASSCODE_NAME_PATTERN }) });

/** A scoped passcode as the API shows it: every field is listed, so nothing else (a hash) can be serialised. */
const ViewSchema = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('typed'), Type.Literal('generated')]),
  publicId: Nullable(Type.String()),
  scope: Type.Object({ taskSequences: Type.Array(Type.String()), sources: Type.Array(Type.String()), context: Type.Union([Type.Null(), Context]) }),
  expiresAt: Nullable(Type.String()),
  maxUses: Type.Union([Type.Null(), Type.Integer()]),
  usesLeft: Type.Union([Type.Null(), Type.Integer()]),
  uses: Type.Integer(),
  lastUsedAt: Nullable(Type.String()),
  createdAt: Type.String(),
  createdBy: Type.String(),
  revokedAt: Nullable(Type.String()),
  state: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('used-up'), Type.Literal('revoked')]),
});

const AddSchema = Type.Object({
  name: Type.String({ pattern: SCOPED_PASSCODE_NAME_PATTERN }),
  passcode: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'a typed passcode (with verify); or generate' })),
  verify: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'the passcode typed a second time' })),
  generate: Type.Optional(Type.Boolean({ description: 'make a strong one; returned in this response only' })),
  taskSequences: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32, description: '<guid> or <guid>:<version>' })),
  sources: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32, description: 'CIDR ranges or addresses' })),
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 366 * 86400 })),
  until: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601' })),
  maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  context: Type.Optional(Context),
}, { additionalProperties: false });

/** Registers the scoped passcode routes. */
export function registerPasscodeRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const tags = ['admin: passcodes'];
  const nameOf = (req: FastifyRequest): string => (req.params as { name: string }).name;

  app.get('/v1/admin/passcodes', { config: { adminRole: 'viewer' }, schema: { summary: 'Scoped passcodes: scope, expiry, uses, last use (never a passcode or hash)', tags, response: { 200: Type.Object({ passcodes: Type.Array(ViewSchema) }) } } },
    async () => ({ passcodes: await deps.passcodes.list() }));

  app.get('/v1/admin/passcodes/:name', { config: { adminRole: 'viewer' }, schema: { summary: 'One scoped passcode (never the passcode or hash)', tags, params: NameParams, response: { 200: ViewSchema } } },
    async (req) => deps.passcodes.show(nameOf(req)));

  app.post('/v1/admin/passcodes', {
    config: { adminRole: 'admin' },
    schema: { summary: 'Add a scoped passcode (typed twice, or generated and returned in this response only)', tags, body: AddSchema, response: { 201: Type.Object({ passcode: ViewSchema, generated: Type.Optional(Type.String()), warnings: Type.Array(Type.String()) }) } },
  }, async (req, reply) => {
    const body = req.body as Static<typeof AddSchema>;
    if (body.generate === true && (body.passcode !== undefined || body.verify !== undefined)) throw new DeployrError('INVALID_INPUT', 'Either give a passcode (with verify) or generate: true, not both.');
    if (body.generate !== true && body.passcode === undefined) throw new DeployrError('INVALID_INPUT', 'Give a passcode (with verify), or generate: true.');
    if (body.passcode !== undefined && body.passcode !== body.verify) throw new DeployrError('INVALID_INPUT', 'The two passcodes do not match; nothing changed.');
    const added = await deps.passcodes.add({
      name: body.name,
      ...(body.generate === true ? { generate: true } : { passcode: body.passcode as string }),
      ...(body.taskSequences ? { taskSequences: body.taskSequences } : {}), ...(body.sources ? { sources: body.sources } : {}),
      ...(body.expiresInSeconds !== undefined ? { expiresInSeconds: body.expiresInSeconds } : {}), ...(body.until !== undefined ? { until: body.until } : {}),
      ...(body.maxUses !== undefined ? { maxUses: body.maxUses } : {}), ...(body.context !== undefined ? { context: body.context } : {}),
    }, actorOf(req));
    void reply.code(201).header('cache-control', 'no-store');
    return added;
  });

  app.delete('/v1/admin/passcodes/:name', { config: { adminRole: 'admin' }, schema: { summary: 'Revoke a scoped passcode: its tokens stop at once', tags, params: NameParams, response: { 200: ViewSchema } } },
    async (req) => deps.passcodes.revoke(nameOf(req), actorOf(req)));
}
