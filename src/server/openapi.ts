// A small OpenAPI 3.1 generator: walks the routes as they are registered and turns their TypeBox schemas into paths.

import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the OpenAPI document. */
    summary?: string;
    /** OpenAPI tags (groups). */
    tags?: string[];
    /** Left out of the OpenAPI document (the console's files). */
    hide?: boolean;
  }
}

/** The routes seen so far. */
interface SeenRoute {
  method: string;
  url: string;
  schema: Record<string, unknown> | undefined;
  config: Record<string, unknown> | undefined;
}

/** Strips TypeBox's symbol keys (JSON.stringify drops them anyway) and returns a plain JSON Schema. */
function plain(schema: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema ?? {})) as Record<string, unknown>;
}

/**
 * Starts collecting routes (call before registering any). The returned function builds the document
 * from the routes registered by then: the admin routes carry `x-deployr-role` (the role they need);
 * the client routes are marked with the bearer scheme unless public.
 */
export function collectOpenApi(app: FastifyInstance, info: { version: string }): () => Record<string, unknown> {
  const routes: SeenRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' || (route.schema as { hide?: boolean } | undefined)?.hide) continue;
      routes.push({ method: method.toLowerCase(), url: route.url, schema: route.schema as Record<string, unknown> | undefined, config: route.config as Record<string, unknown> | undefined });
    }
  });
  let built: Record<string, unknown> | null = null;
  return () => {
    if (built) return built;
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of routes) {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const s = r.schema ?? {};
      const parameters: unknown[] = [];
      for (const [where, key] of [['path', 'params'], ['query', 'querystring']] as const) {
        const obj = plain(s[key]);
        const props = (obj.properties ?? {}) as Record<string, unknown>;
        const required = new Set((obj.required ?? []) as string[]);
        for (const [name, schema] of Object.entries(props)) parameters.push({ name, in: where, required: where === 'path' || required.has(name), schema });
      }
      const responses: Record<string, unknown> = {};
      for (const [code, schema] of Object.entries((s.response ?? {}) as Record<string, unknown>)) {
        responses[code] = code === '204' ? { description: 'No content' } : { description: 'OK', content: { 'application/json': { schema: plain(schema) } } };
      }
      if (Object.keys(responses).length === 0) responses['200'] = { description: 'OK (JSON)' };
      responses.default = { description: 'An error: {"error": {"code", "message"}}' };
      const role = r.config?.adminRole as string | undefined;
      const op: Record<string, unknown> = {
        ...(s.summary ? { summary: s.summary } : {}),
        tags: (s.tags as string[] | undefined) ?? [r.url.startsWith('/v1/admin') ? 'admin' : 'client'],
        ...(parameters.length ? { parameters } : {}),
        ...(s.body ? { requestBody: { required: true, content: { 'application/json': { schema: plain(s.body) } } } } : {}),
        responses,
        security: role ? [{ adminSession: [] }] : r.config?.public === true || r.config?.adminPublic === true ? [] : [{ bearer: [] }],
        ...(role ? { 'x-deployr-role': role } : {}),
      };
      (paths[path] ??= {})[r.method] = op;
    }
    built = {
      openapi: '3.1.0',
      info: { title: 'deployr', version: info.version, description: 'Client API (bearer tokens) and admin API (console session cookie; POST, PUT and DELETE need Origin and X-CSRF-Token). See docs/http-api.md.' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          adminSession: { type: 'apiKey', in: 'cookie', name: 'deployr_admin' },
        },
      },
      paths,
    };
    return built;
  };
}
