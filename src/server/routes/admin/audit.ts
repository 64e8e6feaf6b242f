// /v1/admin/audit and /v1/admin/throttle: the audit trail (search, verify) and the failed-login counters (list; clear as admin).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuditKind } from '../../../domain/audit.js';
import { DeployrError } from '../../../domain/errors.js';
import { describeThrottleKey, retryAfterSeconds } from '../../../domain/throttle.js';
import { actorOf } from '../../admin-guard.js';
import type { AdminApiDeps } from './deps.js';

const AUDIT_KINDS: AuditKind[] = ['login', 'settings', 'alert', 'throttle', 'content', 'task-sequence', 'step-definition', 'run', 'administrator'];
const AuditQuery = Type.Object({
  kind: Type.Optional(Type.Union(AUDIT_KINDS.map((k) => Type.Literal(k)))),
  method: Type.Optional(Type.String({ maxLength: 64 })),
  result: Type.Optional(Type.String({ maxLength: 64 })),
  since: Type.Optional(Type.String({ maxLength: 40, description: 'an ISO 8601 time' })),
  q: Type.Optional(Type.String({ maxLength: 200, description: 'text anywhere in the entry' })),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,4}$' })),
}, { additionalProperties: false });
const ClearSchema = Type.Object({
  address: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\s|\\x00-\\x1f]+$' })),
  all: Type.Optional(Type.Boolean()),
  alert: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });

/** Registers the audit and throttle routes. */
export function registerAuditRoutes(app: FastifyInstance, deps: AdminApiDeps): void {
  app.get('/v1/admin/audit', { config: { adminRole: 'viewer' }, schema: { summary: 'Audit entries, newest last, filtered', tags: ['admin: audit'], querystring: AuditQuery } }, async (req) => {
    const q = req.query as Static<typeof AuditQuery>;
    let since: string | undefined;
    if (q.since) {
      const t = Date.parse(q.since);
      if (Number.isNaN(t)) throw new DeployrError('INVALID_INPUT', 'since must be an ISO 8601 time.');
      since = new Date(t).toISOString();
    }
    const limit = q.limit ? Number(q.limit) : 500;
    const text = q.q?.toLowerCase();
    const entries = await deps.audit.list({
      ...(since ? { since } : {}), ...(q.kind ? { kind: q.kind } : {}), ...(q.method ? { method: q.method } : {}), ...(q.result ? { result: q.result } : {}),
      ...(text ? {} : { limit }),
    });
    const found = text ? entries.filter((e) => JSON.stringify(e).toLowerCase().includes(text)).slice(-limit) : entries;
    return { entries: found };
  });
  app.get('/v1/admin/audit/verify', { config: { adminRole: 'viewer' }, schema: { summary: 'Check the HMAC chain', tags: ['admin: audit'] } }, async () => deps.audit.verify());

  app.get('/v1/admin/throttle', { config: { adminRole: 'viewer' }, schema: { summary: 'Failed-login counters and the consecutive-failure alert', tags: ['admin: throttle'] } }, async () => {
    const { records, global } = await deps.logins.listThrottle();
    const now = Date.now();
    return {
      counters: records.map(({ key, record }) => ({ ...describeThrottleKey(key), failures: record.failures, lastFailureAt: new Date(record.lastFailureAt).toISOString(), waitSeconds: retryAfterSeconds(record, now) })),
      consecutiveFailures: global.consecutiveFailures, alertSince: global.alertSince > 0 ? new Date(global.alertSince).toISOString() : null,
    };
  });
  app.post('/v1/admin/throttle/clear', { config: { adminRole: 'admin' }, schema: { summary: 'Let a source (or all) try again at once; audited', tags: ['admin: throttle'], body: ClearSchema } }, async (req) => {
    const b = req.body as Static<typeof ClearSchema>;
    if (b.address !== undefined && b.all) throw new DeployrError('INVALID_INPUT', 'Give either an address or all, not both.');
    if (b.address === undefined && !b.all && !b.alert) throw new DeployrError('INVALID_INPUT', 'Say what to clear: an address, all, or alert.');
    const actor = actorOf(req);
    return deps.logins.clearThrottle({
      ...(b.address !== undefined ? { address: b.address } : {}), all: b.all === true, resetAlert: b.alert === true,
      event: {
        kind: 'throttle', method: 'clear', result: 'changed', reason: b.all ? 'all_cleared' : b.address !== undefined ? 'address_cleared' : 'alert_cleared',
        subject: actor.subject, source: actor.source, device: null, detail: { ...(b.address !== undefined ? { address: b.address } : {}), all: b.all === true, alert: b.alert === true },
      },
    });
  });
}
