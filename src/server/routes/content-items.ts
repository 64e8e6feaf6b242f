// Content item routes: list and read metadata (token required).

import type { FastifyInstance } from 'fastify';
import { IdParamsSchema, PATHS, type ContentItemList } from '../../api/contract.js';
import type { ContentCatalog } from '../../engine/content-catalog.js';

/** Registers the content item routes. */
export function registerContentRoutes(app: FastifyInstance, catalog: ContentCatalog): void {
  app.get(PATHS.contentItems, async (): Promise<ContentItemList> => ({ contentItems: await catalog.list() }));
  app.get(`${PATHS.contentItems}/:id`, { schema: { params: IdParamsSchema } }, async (req) => {
    const { id } = req.params as { id: string };
    return catalog.get(id);
  });
}
