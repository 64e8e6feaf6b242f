// Registers the whole admin API under /v1/admin in its own scope (the session guard, the upload parser): the one place admin routes are listed.

import type { FastifyInstance } from 'fastify';
import { guardAdminRoutes } from '../../admin-guard.js';
import { registerAdministratorRoutes } from './administrators.js';
import { registerAuditRoutes } from './audit.js';
import { registerCatalogRoutes } from './catalog.js';
import { registerContentAdminRoutes } from './content.js';
import type { AdminApiDeps } from './deps.js';
import { registerMediaAdminRoutes } from './media.js';
import { registerPasscodeRoutes } from './passcodes.js';
import { registerRunAdminRoutes } from './runs.js';
import { registerSecurityRoutes } from './security.js';
import { registerSessionRoutes } from './session.js';

export type { AdminApiDeps } from './deps.js';

/** Registers every /v1/admin route (each route's config names the role it needs). */
export function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): void {
  void app.register(async (scope) => {
    guardAdminRoutes(scope, deps.sessions);
    registerSessionRoutes(scope, deps);
    registerSecurityRoutes(scope, deps);
    registerCatalogRoutes(scope, deps);
    registerContentAdminRoutes(scope, deps);
    registerRunAdminRoutes(scope, deps, deps.audit);
    registerAuditRoutes(scope, deps);
    registerAdministratorRoutes(scope, deps);
    registerMediaAdminRoutes(scope, deps);
    registerPasscodeRoutes(scope, deps);
  });
}
