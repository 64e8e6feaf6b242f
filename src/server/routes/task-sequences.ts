// Task sequence routes: list and read (token required).

import type { FastifyInstance, FastifyReply } from 'fastify';
import { IdParamsSchema, PATHS, TaskSequenceListSchema } from '../../api/contract.js';
import type { TaskSequenceCatalog, TaskSequenceOverview } from '../../engine/task-sequence-catalog.js';

/** Registers the task sequence routes. */
export function registerTaskSequenceRoutes(app: FastifyInstance, catalog: TaskSequenceCatalog): void {
  // Every technician's client lists the task sequences: the catalog hands back the same frozen
  // array until something changes, so its serialised form is kept beside it.
  const serialised = new WeakMap<readonly TaskSequenceOverview[], string>();
  const send = (reply: FastifyReply, overviews: readonly TaskSequenceOverview[]): FastifyReply => {
    let body = serialised.get(overviews);
    if (body === undefined) {
      body = String(reply.serialize({ taskSequences: overviews }));
      serialised.set(overviews, body);
    }
    return reply.type('application/json; charset=utf-8').send(body);
  };
  // Answered without waiting when the store can (the embedded one): no promise on the hot path.
  app.get(PATHS.taskSequences, { schema: { response: { 200: TaskSequenceListSchema } } }, (req, reply) => {
    const now = catalog.listNow(req.principal);
    return now !== null ? send(reply, now) : catalog.list(req.principal).then((overviews) => send(reply, overviews));
  });
  app.get(`${PATHS.taskSequences}/:id`, { schema: { params: IdParamsSchema } }, async (req) => {
    const { id } = req.params as { id: string };
    return catalog.get(id, req.principal);
  });
}
