// Runs: filter and list; one run's step timeline and its log (text only).

import type { AdminRun, AdminRunDetail } from '../../api/admin-contract.js';
import { h, replace, table, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

/** The runs page. */
export const runsPage: Page = async (ctx) => {
  const status = h('select', { name: 'status' }, ['', 'running', 'succeeded', 'failed', 'rebooting', 'stale'].map((s) => h('option', { value: s }, s || 'any')));
  const q = h('input', { name: 'q', type: 'search', placeholder: 'name, device, message' });
  const results = h('div');
  const load = async (): Promise<void> => {
    const params = new URLSearchParams();
    if (status.value) params.set('status', status.value);
    if (q.value.trim()) params.set('q', q.value.trim());
    params.set('limit', '200');
    const { runs } = await api<{ runs: AdminRun[] }>('GET', `/runs?${params.toString()}`);
    replace(results, runs.length === 0 ? h('p', { class: 'muted' }, 'No runs match.') : table<AdminRun>([
      ['Task sequence', (r) => h('a', { href: `#/runs/${r.id}` }, r.name)],
      ['Device', (r) => r.device ?? ''],
      ['Status', (r) => h('span', { class: `status ${r.stale ? 'stale' : r.status}` }, r.stale ? `${r.status} (stale)` : r.status)],
      ['Step', (r) => r.currentStep ?? ''],
      ['Started', (r) => when(r.startedAt)],
      ['Finished', (r) => when(r.finishedAt)],
    ], runs));
  };
  const form = h('form', { class: 'filters', onsubmit: (ev: Event) => { ev.preventDefault(); void guarded(ctx, load); } },
    field('Status', status), field('Search', q), h('button', { type: 'submit' }, 'Filter'));
  const prune = ctx.can('operator') ? h('button', {
    type: 'button', class: 'secondary',
    onclick: () => void guarded(ctx, async () => {
      const days = window.prompt('Delete runs with no change for more than how many days?', '90');
      if (!days || !/^[1-9][0-9]*$/.test(days)) return;
      const r = await api<{ deleted: number }>('POST', '/runs/prune', { olderThanSeconds: Number(days) * 86400 });
      ctx.notify(`Deleted ${r.deleted} runs.`);
      await load();
    }),
  }, 'Prune old runs…') : null;
  replace(ctx.main, heading('Runs', prune), form, results);
  await load();
};

/** One run. */
export const runDetailPage: Page = async (ctx) => {
  const id = ctx.param as string;
  const [run, log] = await Promise.all([api<AdminRunDetail>('GET', `/runs/${encodeURIComponent(id)}`), api<{ text: string }>('GET', `/runs/${encodeURIComponent(id)}/log`)]);
  const remove = ctx.can('operator') ? h('button', {
    type: 'button', class: 'danger', 'data-action': 'delete',
    onclick: () => void guarded(ctx, async () => {
      if (!window.confirm('Delete this run with its steps and log?')) return;
      await api('DELETE', `/runs/${encodeURIComponent(run.id)}`);
      ctx.notify('Run deleted.');
      location.hash = '#/runs';
    }),
  }, 'Delete') : null;
  replace(ctx.main,
    heading(run.name, h('a', { href: '#/runs' }, 'All runs'), remove),
    h('dl', { class: 'facts' },
      ...([['Status', run.stale ? `${run.status} (stale: no report since ${when(run.updatedAt)})` : run.status], ['Device', run.device ?? ''], ['Started', when(run.startedAt)],
        ['Finished', when(run.finishedAt)], ['By', `${run.subject} (${run.method}, ${run.context})`], ['Message', run.message ?? ''], ['Run id', run.id]] as [string, string][])
        .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
    h('h2', {}, 'Steps'),
    table<AdminRunDetail['steps'][number]>([
      ['Step', (s) => s.name], ['Status', (s) => h('span', { class: `status ${s.status}` }, s.status)], ['Exit code', (s) => s.exitCode ?? ''],
      ['Duration', (s) => (s.durationMs === null ? '' : `${(s.durationMs / 1000).toFixed(1)} s`)], ['Started', (s) => when(s.startedAt)], ['Message', (s) => s.message ?? ''],
    ], run.steps),
    h('h2', {}, 'Log'),
    h('pre', { class: 'log' }, log.text || '(no log uploaded)'));
};
