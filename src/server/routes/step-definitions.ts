// Step definition routes: list and read custom step definitions (any valid token).

import type { FastifyInstance } from 'fastify';
import { IdParamsSchema, PATHS, StepDefinitionListSchema, type StepDefinitionDocument, type StepDefinitionList } from '../../api/contract.js';
import { exportStepDefinition } from '../../domain/step-definition.js';
import type { StepDefinitionCatalog } from '../../engine/step-definition-catalog.js';

/** Registers the step definition routes. */
export function registerStepDefinitionRoutes(app: FastifyInstance, catalog: StepDefinitionCatalog): void {
  app.get(PATHS.stepDefinitions, { schema: { response: { 200: StepDefinitionListSchema } } }, async (): Promise<StepDefinitionList> => {
    return { stepDefinitions: await catalog.list() };
  });
  app.get(`${PATHS.stepDefinitions}/:id`, { schema: { params: IdParamsSchema } }, async (req): Promise<StepDefinitionDocument> => {
    const { id } = req.params as { id: string };
    return exportStepDefinition(await catalog.get(id)) as unknown as StepDefinitionDocument;
  });
}
