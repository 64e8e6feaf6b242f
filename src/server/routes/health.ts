// GET /v1/health: liveness, without authentication.

import type { FastifyInstance } from 'fastify';
import { PATHS, type HealthResponse } from '../../api/contract.js';

/** Registers the health route. */
export function registerHealthRoutes(app: FastifyInstance, version: string): void {
  app.get(PATHS.health, { config: { public: true } }, async (): Promise<HealthResponse> => ({ status: 'ok', name: 'deployr', version }));
}
