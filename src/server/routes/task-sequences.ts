// Task sequence routes: list and read (token required).

import type { FastifyInstance } from 'fastify';
import { IdParamsSchema, PATHS, TaskSequenceListSchema } from '../../api/contract.js';
import type { TaskSequenceCatalog, TaskSequenceOverview } from '../../engine/task-sequence-catalog.js';

/** Registers the task sequence routes. */
export function registerTaskSequenceRoutes(app: FastifyInstance, catalog: TaskSequenceCatalog): void {
  // Every technician's client lists the task sequences: the catalog hands back the same frozen
  // array until something changes, so its serialised form is kept beside it.
  const serialised = new WeakMap<readonly TaskSequenceOverview[], string>();
  app.get(PATHS.taskSequences, { schema: { response: { 200: TaskSequenceListSchema } } }, async (req, reply) => {
    const overviews = await catalog.list(req.principal);
    let body = serialised.get(overviews);
    if (body === undefined) {
      body = String(reply.serialize({ taskSequences: overviews }));
      serialised.set(overviews, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  });
  app.get(`${PATHS.taskSequences}/:id`, { schema: { params: IdParamsSchema } }, async (req) => {
    const { id } = req.params as { id: string };
    return catalog.get(id, req.principal);
  });
}
