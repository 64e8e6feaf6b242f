// Run routes: register a run, report steps and the result, upload the log, run server-side scripts, read progress (token required).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  CreateRunSchema, FinishRunSchema, IdParamsSchema, RUN_PATHS, RunLogChunkSchema, ServerScriptSchema, StepReportSchema,
  type CreateRunRequest, type FinishRunRequest, type RunDetail, type RunList, type RunLogChunk, type RunLogResponse, type RunSummary,
  type ServerScriptRequest, type ServerScriptResponse, type StepReport,
} from '../../api/contract.js';
import { DeployrError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import type { RunRegistry } from '../../engine/run-registry.js';

const ListQuerySchema = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$' })),
}, { additionalProperties: false });

/** The caller; the authentication hook has set it on every route here. */
function caller(req: FastifyRequest): Principal {
  if (!req.principal) throw new DeployrError('TOKEN_INVALID', 'This endpoint needs a token: sign in first (Authorization: Bearer <token>).');
  return req.principal;
}

/** Registers the run routes. */
export function registerRunRoutes(app: FastifyInstance, runs: RunRegistry): void {
  const byId = { schema: { params: IdParamsSchema } };
  const idOf = (req: FastifyRequest): string => (req.params as { id: string }).id;
  const source = (req: FastifyRequest): { address: string } => ({ address: req.ip });

  app.get(RUN_PATHS.runs, { schema: { querystring: ListQuerySchema } }, async (req): Promise<RunList> => {
    const { limit } = req.query as { limit?: string };
    return { runs: await runs.list(caller(req), limit ? Number(limit) : 100) };
  });

  app.post(RUN_PATHS.runs, { schema: { body: CreateRunSchema } }, async (req, reply): Promise<RunSummary> => {
    const body = req.body as CreateRunRequest;
    const run = await runs.register(caller(req), body, source(req));
    void reply.code(201);
    return run;
  });

  app.get(`${RUN_PATHS.runs}/:id`, byId, async (req): Promise<RunDetail> => runs.get(caller(req), idOf(req)));

  app.post(`${RUN_PATHS.runs}/:id/steps`, { schema: { params: IdParamsSchema, body: StepReportSchema } }, async (req): Promise<{ ok: true }> => {
    await runs.reportStep(caller(req), idOf(req), req.body as StepReport);
    return { ok: true };
  });

  app.post(`${RUN_PATHS.runs}/:id/resume`, byId, async (req): Promise<RunSummary> => runs.resume(caller(req), idOf(req)));

  app.post(`${RUN_PATHS.runs}/:id/heartbeat`, byId, async (req): Promise<RunSummary> => runs.heartbeat(caller(req), idOf(req)));

  app.post(`${RUN_PATHS.runs}/:id/finish`, { schema: { params: IdParamsSchema, body: FinishRunSchema } }, async (req): Promise<RunSummary> =>
    runs.finish(caller(req), idOf(req), req.body as FinishRunRequest, source(req)));

  app.post(`${RUN_PATHS.runs}/:id/log`, { bodyLimit: 2 * 1024 * 1024, schema: { params: IdParamsSchema, body: RunLogChunkSchema } }, async (req): Promise<{ ok: true }> => {
    await runs.appendLog(caller(req), idOf(req), (req.body as RunLogChunk).text);
    return { ok: true };
  });

  app.get(`${RUN_PATHS.runs}/:id/log`, byId, async (req): Promise<RunLogResponse> => ({ text: await runs.log(caller(req), idOf(req)) }));

  app.post(`${RUN_PATHS.runs}/:id/server-script`, { schema: { params: IdParamsSchema, body: ServerScriptSchema } }, async (req): Promise<ServerScriptResponse> => {
    const body = req.body as ServerScriptRequest;
    return runs.runServerScript(caller(req), idOf(req), body, source(req));
  });
}
