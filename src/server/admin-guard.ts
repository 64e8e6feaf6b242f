// The console's guard: the session cookie, the role a route needs, and same-origin + CSRF checks on every change.

import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { AdminPrincipal, AdminSessions } from '../auth/admin-sessions.js';
import { roleAllows, type AdminRole } from '../domain/administrator.js';
import { DeployrError } from '../domain/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in administrator, set by the admin guard on admin routes. */
    admin: AdminPrincipal | null;
  }
  interface FastifyContextConfig {
    /** An admin route: the role it needs (a console session, never a bearer token). */
    adminRole?: AdminRole;
    /** An admin route open without a session (sign-in): still same-origin only. */
    adminPublic?: boolean;
  }
}

/** The session cookie's name. */
export const ADMIN_COOKIE = 'deployr_admin';
/** The header that carries the CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session token from the Cookie header, if any. */
export function sessionCookie(req: FastifyRequest): string | null {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === ADMIN_COOKIE) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The Set-Cookie value for a new session (or, with null, one that removes it). */
export function sessionCookieHeader(token: string | null, maxAgeSeconds: number): string {
  return token === null
    ? `${ADMIN_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`
    : `${ADMIN_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.floor(maxAgeSeconds)}`;
}

function crossOrigin(): DeployrError {
  return new DeployrError('FORBIDDEN', 'This request must come from the console itself (same origin, with its X-CSRF-Token).');
}

/**
 * Refuses a state-changing request that a browser marks as coming from another site: `Sec-Fetch-Site`,
 * when sent, must be `same-origin`, and `Origin` must be sent and be this server's own origin
 * (`https://` + the Host header).
 */
export function checkSameOrigin(req: FastifyRequest): void {
  if (SAFE_METHODS.has(req.method)) return;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw crossOrigin();
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (typeof origin !== 'string' || typeof host !== 'string' || origin !== `https://${host}`) throw crossOrigin();
}

/** Headers on every admin API and console response. */
export function adminSecurityHeaders(reply: FastifyReply): void {
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('cache-control', 'no-store');
  void reply.header('x-frame-options', 'DENY');
}

/** The onRequest hook of an admin route that needs `role`. */
export function adminGuard(sessions: AdminSessions, role: AdminRole) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    adminSecurityHeaders(reply);
    const token = sessionCookie(req);
    const admin = token ? await sessions.check(token) : null;
    if (!admin) throw new DeployrError('TOKEN_INVALID', 'Sign in to the console first (POST /v1/admin/session).');
    if (!SAFE_METHODS.has(req.method)) {
      checkSameOrigin(req);
      const given = req.headers[CSRF_HEADER];
      if (!sessions.csrfMatches(admin, typeof given === 'string' ? given : undefined)) throw crossOrigin();
    }
    if (!roleAllows(admin.role, role)) throw new DeployrError('FORBIDDEN', `This needs the ${role} role; ${admin.name} has the ${admin.role} role.`);
    req.admin = admin;
  };
}

/** The onRequest hook of the sign-in route: security headers and same-origin only. */
export function adminPublicGuard() {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    adminSecurityHeaders(reply);
    checkSameOrigin(req);
  };
}

/**
 * Puts the admin guard first on every route registered from now on whose config names an
 * `adminRole` (or `adminPublic`); the bearer-token hook leaves those routes alone (authenticate.ts).
 */
export function guardAdminRoutes(app: FastifyInstance, sessions: AdminSessions): void {
  app.decorateRequest('admin', null);
  app.addHook('onRoute', (route) => {
    const config = route.config as { adminRole?: AdminRole; adminPublic?: boolean } | undefined;
    const hook = config?.adminRole ? adminGuard(sessions, config.adminRole) : config?.adminPublic ? adminPublicGuard() : null;
    if (!hook) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [hook as onRequestHookHandler, ...own];
  });
}

/** The signed-in administrator of a guarded route. */
export function adminOf(req: FastifyRequest): AdminPrincipal {
  if (!req.admin) throw new DeployrError('TOKEN_INVALID', 'Sign in to the console first (POST /v1/admin/session).');
  return req.admin;
}

/** The audit actor of a guarded route: the administrator's name and address. */
export function actorOf(req: FastifyRequest): { subject: string; source: string } {
  return { subject: adminOf(req).name, source: req.ip };
}
