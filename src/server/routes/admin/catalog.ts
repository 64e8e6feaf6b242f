// /v1/admin/task-sequences and /v1/admin/step-definitions: list, show, export (viewer); import, activate, delete (operator).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { exportStepDefinition } from '../../../domain/step-definition.js';
import { exportTaskSequence } from '../../../domain/task-sequence-export.js';
import { overview } from '../../../engine/task-sequence-catalog.js';
import { stepDefinitionOverview } from '../../../engine/step-definition-catalog.js';
import { actorOf } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

/** Largest import accepted, in bytes (DeployR exports with many steps are large). */
const IMPORT_LIMIT = 8 * 1024 * 1024;
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const ActivateSchema = Type.Object({ version: Type.Integer({ minimum: 1, maximum: 999_999_999 }) }, { additionalProperties: false });
const ExportBody = Type.Object({}, { additionalProperties: true, description: "DeployR's export JSON" });

/** Registers the task sequence and step definition routes. */
export function registerCatalogRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  const ts = deps.taskSequences;
  let tags = ['admin: task sequences'];
  app.get('/v1/admin/task-sequences', { config: { adminRole: 'viewer' }, schema: { summary: 'Task sequences', tags } }, async () => ({ taskSequences: await ts.list(null) }));
  app.get('/v1/admin/task-sequences/:id', { config: { adminRole: 'viewer' }, schema: { summary: 'One task sequence with its versions and step tree', tags, params: IdParams } },
    async (req) => ts.get((req.params as { id: string }).id, null));
  app.get('/v1/admin/task-sequences/:id/export', { config: { adminRole: 'viewer' }, schema: { summary: "DeployR's export JSON", tags, params: IdParams } },
    async (req) => exportTaskSequence(await ts.get((req.params as { id: string }).id, null)));
  app.post('/v1/admin/task-sequences', { config: { adminRole: 'operator' }, bodyLimit: IMPORT_LIMIT, schema: { summary: 'Import a DeployR task sequence export (replaces one with the same id)', tags, body: ExportBody } },
    async (req, reply) => { const t = await ts.importExport(req.body, actorOf(req)); void reply.code(201); return overview(t); });
  app.post('/v1/admin/task-sequences/:id/activate', { config: { adminRole: 'operator' }, schema: { summary: 'Make a version Active', tags, params: IdParams, body: ActivateSchema } }, async (req) => {
    const { ts: t, changed } = await ts.activate((req.params as { id: string }).id, (req.body as Static<typeof ActivateSchema>).version, actorOf(req));
    return { ...overview(t), changed };
  });
  app.delete('/v1/admin/task-sequences/:id', { config: { adminRole: 'operator' }, schema: { summary: 'Delete a task sequence (refused with 409 while another task sequence runs it)', tags, params: IdParams } }, async (req) => {
    const t = await ts.delete((req.params as { id: string }).id, actorOf(req));
    return { deleted: t.id, name: t.name };
  });

  const steps = deps.stepDefinitions;
  tags = ['admin: step definitions'];
  app.get('/v1/admin/step-definitions', { config: { adminRole: 'viewer' }, schema: { summary: 'Custom step definitions', tags } }, async () => ({ stepDefinitions: await steps.list() }));
  app.get('/v1/admin/step-definitions/:id', { config: { adminRole: 'viewer' }, schema: { summary: 'One step definition (export shape)', tags, params: IdParams } },
    async (req) => exportStepDefinition(await steps.get((req.params as { id: string }).id)));
  app.post('/v1/admin/step-definitions', { config: { adminRole: 'operator' }, bodyLimit: IMPORT_LIMIT, schema: { summary: 'Import a DeployR step definition export', tags, body: ExportBody } },
    async (req, reply) => { const d = await steps.importExport(req.body, actorOf(req)); void reply.code(201); return stepDefinitionOverview(d); });
  app.post('/v1/admin/step-definitions/:id/activate', { config: { adminRole: 'operator' }, schema: { summary: 'Make a version Active', tags, params: IdParams, body: ActivateSchema } }, async (req) => {
    const { def, changed } = await steps.activate((req.params as { id: string }).id, (req.body as Static<typeof ActivateSchema>).version, actorOf(req));
    return { ...stepDefinitionOverview(def), changed };
  });
  app.delete('/v1/admin/step-definitions/:id', { config: { adminRole: 'operator' }, schema: { summary: 'Delete a step definition (refused with 409 while a task sequence uses it)', tags, params: IdParams } }, async (req) => {
    const d = await steps.delete((req.params as { id: string }).id, actorOf(req));
    return { deleted: d.id, name: d.name };
  });
}
