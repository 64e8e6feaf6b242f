// Step definition routes: list and read custom step definitions (any valid token).

import type { FastifyInstance } from 'fastify';
import { IdParamsSchema, PATHS, StepDefinitionListSchema, type StepDefinitionDocument, type StepDefinitionList } from '../../api/contract.js';
import { exportStepDefinition } from '../../domain/step-definition.js';
import { DeployrError } from '../../domain/errors.js';
import type { StepDefinitionCatalog } from '../../engine/step-definition-catalog.js';
import type { TokenReach } from '../../engine/token-reach.js';

/** Registers the step definition routes; a token limited to a task sequence reads only the definitions its steps use. */
export function registerStepDefinitionRoutes(app: FastifyInstance, catalog: StepDefinitionCatalog, reach: TokenReach): void {
  app.get(PATHS.stepDefinitions, { schema: { response: { 200: StepDefinitionListSchema } } }, async (req): Promise<StepDefinitionList> => {
    return { stepDefinitions: await reach.filterStepDefinitions(req.principal, await catalog.list()) };
  });
  app.get(`${PATHS.stepDefinitions}/:id`, { schema: { params: IdParamsSchema } }, async (req): Promise<StepDefinitionDocument> => {
    const { id } = req.params as { id: string };
    if (!(await reach.mayReadStepDefinition(req.principal, id))) throw new DeployrError('NOT_FOUND', `No step definition with id ${id}; import it with: deployr step import FILE.json`);
    return exportStepDefinition(await catalog.get(id)) as unknown as StepDefinitionDocument;
  });
}
