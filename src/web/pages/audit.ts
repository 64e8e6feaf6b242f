// Audit: search the trail and verify its chain.

import type { AuditEntryInfo } from '../../api/admin-contract.js';
import { h, replace, table, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

/** The audit page. */
export const auditPage: Page = async (ctx) => {
  const q = h('input', { type: 'search', name: 'q', placeholder: 'text anywhere in the entry' });
  const kind = h('select', { name: 'kind' }, ['', 'login', 'settings', 'alert', 'throttle', 'content', 'task-sequence', 'step-definition', 'run', 'administrator'].map((k) => h('option', { value: k }, k || 'any')));
  const results = h('div');
  const chain = h('p', { 'data-chain': '' });
  const load = async (): Promise<void> => {
    const params = new URLSearchParams({ limit: '500' });
    if (q.value.trim()) params.set('q', q.value.trim());
    if (kind.value) params.set('kind', kind.value);
    const { entries } = await api<{ entries: AuditEntryInfo[] }>('GET', `/audit?${params.toString()}`);
    replace(results, table<AuditEntryInfo>([
      ['#', (e) => e.seq], ['When', (e) => when(e.at)], ['Kind', (e) => e.kind], ['Method', (e) => e.method], ['Result', (e) => e.result],
      ['Reason', (e) => e.reason], ['Who', (e) => e.subject], ['From', (e) => e.source ?? ''], ['Detail', (e) => h('code', {}, JSON.stringify(e.detail))],
    ], [...entries].reverse()));
  };
  const verify = h('button', {
    type: 'button', class: 'secondary',
    onclick: () => void guarded(ctx, async () => {
      const v = await api<{ ok: boolean; checked: number; brokenAt: number | null }>('GET', '/audit/verify');
      chain.setAttribute('data-chain', v.ok ? 'ok' : 'broken');
      chain.className = v.ok ? 'ok' : 'alert danger';
      chain.textContent = v.ok ? `The chain verifies (${v.checked} entries).` : `The chain is BROKEN at entry ${v.brokenAt}: an entry was edited or deleted.`;
    }),
  }, 'Verify the chain');
  replace(ctx.main, heading('Audit', verify), chain,
    h('form', { class: 'filters', onsubmit: (ev: Event) => { ev.preventDefault(); void guarded(ctx, load); } }, field('Search', q), field('Kind', kind), h('button', { type: 'submit' }, 'Search')),
    results);
  await load();
};
