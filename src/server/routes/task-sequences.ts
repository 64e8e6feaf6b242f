// Task sequence routes: list and read (token required).

import type { FastifyInstance } from 'fastify';
import { IdParamsSchema, PATHS, TaskSequenceListSchema, type TaskSequenceList } from '../../api/contract.js';
import type { TaskSequenceCatalog } from '../../engine/task-sequence-catalog.js';

/** Registers the task sequence routes. */
export function registerTaskSequenceRoutes(app: FastifyInstance, catalog: TaskSequenceCatalog): void {
  app.get(PATHS.taskSequences, { schema: { response: { 200: TaskSequenceListSchema } } }, async (req): Promise<TaskSequenceList> => ({ taskSequences: await catalog.list(req.principal) }));
  app.get(`${PATHS.taskSequences}/:id`, { schema: { params: IdParamsSchema } }, async (req) => {
    const { id } = req.params as { id: string };
    return catalog.get(id, req.principal);
  });
}
