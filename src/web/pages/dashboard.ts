// Dashboard: today's counts, alerts, and the runs in progress, live (server-sent events), without a reload.

import type { AdminRun, DashboardInfo } from '../../api/admin-contract.js';
import { h, replace, table, when } from '../dom.js';
import { api } from '../http.js';
import { heading, type Page } from '../page.js';

/** The dashboard page. */
export const dashboardPage: Page = async (ctx) => {
  const counts = h('dl', { class: 'counts' });
  const alerts = h('section', { class: 'alerts', 'aria-label': 'Alerts' });
  const live = h('section', { 'aria-label': 'Live runs' });
  const runs = new Map<string, AdminRun>();

  const drawCounts = (d: DashboardInfo): void => {
    replace(counts, ...[['Running', d.today.running + d.today.rebooting], ['Succeeded today', d.today.succeeded], ['Failed today', d.today.failed], ['Stale', d.stale]]
      .map(([k, v]) => h('div', { class: 'count', 'data-count': String(k).toLowerCase().split(' ')[0] }, h('dt', {}, k as string), h('dd', {}, v as number))));
    replace(alerts, ...d.alerts.map((a) => h('p', { class: 'alert', 'data-alert': a.code, role: 'alert' }, a.message)));
  };
  const drawRuns = (): void => {
    const list = [...runs.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, 50);
    replace(live, h('h2', {}, 'Runs'), list.length === 0 ? h('p', { class: 'muted' }, 'No runs yet. They appear here as soon as a machine starts one.') : table<AdminRun>([
      ['Task sequence', (r) => h('a', { href: `#/runs/${r.id}` }, r.name)],
      ['Device', (r) => r.device ?? ''],
      ['Status', (r) => h('span', { class: `status ${r.stale ? 'stale' : r.status}` }, r.stale ? `${r.status} (stale)` : r.status)],
      ['Step', (r) => r.currentStep ?? ''],
      ['Started', (r) => when(r.startedAt)],
      ['Last report', (r) => when(r.updatedAt)],
    ], list, (r) => ({ 'data-run': r.id, 'data-status': r.status })));
  };

  const refreshCounts = async (): Promise<void> => drawCounts(await api<DashboardInfo>('GET', '/dashboard'));
  replace(ctx.main, heading('Dashboard'), alerts, counts, live);
  const [dash, recent] = await Promise.all([api<DashboardInfo>('GET', '/dashboard'), api<{ runs: AdminRun[] }>('GET', '/runs?limit=20')]);
  drawCounts(dash);
  for (const r of recent.runs) runs.set(r.id, r);
  drawRuns();

  // Live: every change of a run arrives as an event; counts follow (at most once a second).
  const events = new EventSource('/v1/admin/runs/events');
  let countsTimer: number | null = null;
  events.addEventListener('run', (ev) => {
    const run = JSON.parse((ev as MessageEvent<string>).data) as AdminRun;
    runs.set(run.id, run);
    drawRuns();
    countsTimer ??= window.setTimeout(() => { countsTimer = null; void refreshCounts().catch(() => undefined); }, 1000);
  });
  events.onopen = () => live.setAttribute('data-live', 'open');
  // A run that goes quiet sends no event: every 30 s the counts and the runs' stale marks are read again.
  const every = window.setInterval(() => void Promise.all([refreshCounts(), api<{ runs: AdminRun[] }>('GET', '/runs?limit=20')])
    .then(([, r]) => { for (const run of r.runs) runs.set(run.id, run); drawRuns(); }, () => undefined), 30_000);
  ctx.onLeave(() => { events.close(); window.clearInterval(every); if (countsTimer !== null) clearTimeout(countsTimer); });
};
