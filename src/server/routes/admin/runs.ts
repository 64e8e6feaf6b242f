// /v1/admin/runs and /v1/admin/dashboard: runs with filters, detail with steps and log, delete, prune; the live feed; today's counts and alerts.

import { describeDuration } from '../../../domain/duration-text.js';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { RUN_STATUSES } from '../../../domain/run.js';
import { actorOf, adminSecurityHeaders } from '../../admin-guard.js';
import { RunEvents, runView } from '../../run-events.js';
import type { AdminApiDeps } from './deps.js';

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const ListQuery = Type.Object({
  status: Type.Optional(Type.Union([...RUN_STATUSES.map((s) => Type.Literal(s)), Type.Literal('stale')])),
  taskSequence: Type.Optional(Type.String({ maxLength: 100, description: 'a task sequence id' })),
  q: Type.Optional(Type.String({ maxLength: 200, description: 'text in the name, device, subject or message' })),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$' })),
}, { additionalProperties: false });
const PruneSchema = Type.Object({ olderThanSeconds: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

/** Registers the run routes and returns the live feed (closed when the service stops). */
export function registerRunAdminRoutes(app: FastifyInstance, deps: AdminApiDeps, audit: { verify: () => Promise<{ ok: boolean }> }): RunEvents {
  const tags = ['admin: runs'];
  const staleAfterMs = (deps.staleAfterSeconds ?? 600) * 1000;
  const events = new RunEvents(deps.runWatch, { pollMs: deps.runPollMs ?? 500, staleAfterMs });
  // Open feeds would keep the server from closing: they end first.
  app.addHook('preClose', async () => events.close());

  app.get('/v1/admin/runs', { config: { adminRole: 'viewer' }, schema: { summary: 'Runs, newest first, with filters', tags, querystring: ListQuery } }, async (req) => {
    const q = req.query as Static<typeof ListQuery>;
    const now = Date.now();
    const limit = q.limit ? Number(q.limit) : 100;
    const text = q.q?.toLowerCase();
    const all = (await deps.runs.list(null, q.status || q.taskSequence || text ? 10_000 : limit)).map((r) => runView(r, now, staleAfterMs));
    const runs = all.filter((r) => (!q.status || (q.status === 'stale' ? r.stale : r.status === q.status))
      && (!q.taskSequence || r.taskSequenceId === q.taskSequence.toLowerCase())
      && (!text || [r.name, r.device ?? '', r.subject, r.message ?? '', r.id].some((f) => f.toLowerCase().includes(text)))).slice(0, limit);
    return { runs };
  });

  app.get('/v1/admin/runs/events', { config: { adminRole: 'viewer' }, schema: { summary: 'Live run changes (text/event-stream: event "run" with the run as data)', tags } }, async (req, reply) => {
    adminSecurityHeaders(reply);
    const headers = { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' };
    reply.hijack();
    reply.raw.writeHead(200, headers);
    // HEAD gets the stream's headers and nothing more: subscribing would keep it open with no body to send.
    if (req.method === 'HEAD') { reply.raw.end(); return; }
    reply.raw.write(': deployr run events\n\n');
    req.raw.socket.setTimeout(0);
    events.subscribe(reply.raw);
  });

  app.get('/v1/admin/runs/:id', { config: { adminRole: 'viewer' }, schema: { summary: 'One run with its steps', tags, params: IdParams } }, async (req) => {
    const run = await deps.runs.get(null, (req.params as { id: string }).id);
    return { ...run, stale: runView(run, Date.now(), staleAfterMs).stale };
  });
  app.get('/v1/admin/runs/:id/log', { config: { adminRole: 'viewer' }, schema: { summary: "The run's uploaded log", tags, params: IdParams } },
    async (req) => ({ text: await deps.runs.log(null, (req.params as { id: string }).id) }));
  app.delete('/v1/admin/runs/:id', { config: { adminRole: 'operator' }, schema: { summary: 'Delete one run with its steps and log', tags, params: IdParams } }, async (req) => {
    const run = await deps.runs.delete((req.params as { id: string }).id, actorOf(req));
    return { deleted: run.id };
  });
  app.post('/v1/admin/runs/prune', { config: { adminRole: 'operator' }, schema: { summary: 'Delete runs with no change for longer than olderThanSeconds', tags, body: PruneSchema } },
    async (req) => deps.runs.prune((req.body as Static<typeof PruneSchema>).olderThanSeconds, actorOf(req)));

  // The audit chain check is not cheap on a long trail: the dashboard's answer is kept a minute.
  let chain: { at: number; ok: boolean } | null = null;
  app.get('/v1/admin/dashboard', { config: { adminRole: 'viewer' }, schema: { summary: "Today's counts and the alerts", tags: ['admin: dashboard'] } }, async () => {
    const now = new Date();
    const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
    const counts = await deps.runWatch.runCountsSince(today);
    const running = (await deps.runs.list(null, 10_000)).filter((r) => r.status === 'running' || r.status === 'rebooting').map((r) => runView(r, now.getTime(), staleAfterMs));
    const alerts: { code: string; message: string }[] = [];
    const s = (await deps.readSecurity()).settings;
    if (s.passcode && s.remindAfterSeconds > 0 && now.getTime() - Date.parse(s.passcode.changedAt) > s.remindAfterSeconds * 1000) {
      alerts.push({ code: 'PASSCODE_AGE', message: `The passcode is older than its reminder period (${describeDuration(s.remindAfterSeconds)}); consider changing it.` });
    }
    const { global } = await deps.logins.listThrottle();
    if (global.alertSince > 0) alerts.push({ code: 'FAILED_LOGINS', message: `${global.consecutiveFailures} consecutive failed logins since ${new Date(global.alertSince).toISOString()}; checks are slowed for everyone until a login succeeds.` });
    else if (global.consecutiveFailures >= 10) alerts.push({ code: 'FAILED_LOGINS', message: `${global.consecutiveFailures} consecutive failed logins.` });
    if (!chain || now.getTime() - chain.at > 60_000) chain = { at: now.getTime(), ok: (await audit.verify()).ok };
    if (!chain.ok) alerts.push({ code: 'AUDIT_CHAIN_BROKEN', message: 'The audit chain does not verify: an entry was edited or deleted (see Audit).' });
    if (s.bypass) alerts.push({ code: 'BYPASS_ON', message: 'Bypass (anonymous) authentication is ON: anyone who reaches this server can run any task sequence.' });
    return {
      today: { since: today, running: counts.running ?? 0, rebooting: counts.rebooting ?? 0, succeeded: counts.succeeded ?? 0, failed: counts.failed ?? 0 },
      running, stale: running.filter((r) => r.stale).length, alerts,
    };
  });
  return events;
}
