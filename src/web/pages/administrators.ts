// Administrators (admin role only): list, add, change role, set password, remove.

import type { AdministratorInfo } from '../../api/admin-contract.js';
import { h, replace, table, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

const ROLES = ['viewer', 'operator', 'admin'];

/** The administrators page. */
export const administratorsPage: Page = async (ctx) => {
  const list = h('div');
  const load = async (): Promise<void> => {
    const { administrators } = await api<{ administrators: AdministratorInfo[] }>('GET', '/administrators');
    replace(list, table<AdministratorInfo>([
      ['Name', (a) => a.name],
      ['Role', (a) => h('select', {
        'aria-label': `Role of ${a.name}`,
        onchange: (ev: Event) => void guarded(ctx, async () => {
          await api('PUT', `/administrators/${encodeURIComponent(a.name)}/role`, { role: (ev.target as HTMLSelectElement).value });
          ctx.notify(`${a.name} now has the ${(ev.target as HTMLSelectElement).value} role.`);
          await load();
        }),
      }, ROLES.map((r) => h('option', { value: r, selected: r === a.role }, r)))],
      ['Added', (a) => when(a.createdAt)],
      ['Password changed', (a) => when(a.passwordChangedAt)],
      ['', (a) => h('button', {
        type: 'button', class: 'secondary',
        onclick: () => void guarded(ctx, async () => {
          if (!window.confirm(`Remove ${a.name}?`)) return;
          await api('DELETE', `/administrators/${encodeURIComponent(a.name)}`);
          await load();
        }),
      }, 'Remove')],
    ], administrators));
  };
  const name = h('input', { name: 'name', required: true, pattern: '[a-z][a-z0-9._\\-]{0,63}' });
  const role = h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r }, r)));
  const pw = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true });
  const pw2 = h('input', { type: 'password', name: 'verify', autocomplete: 'new-password', required: true });
  const add = h('form', {
    class: 'filters', 'aria-label': 'Add an administrator',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      void guarded(ctx, async () => {
        if (pw.value !== pw2.value) { ctx.notify('The two passwords do not match.', 'error'); return; }
        try { await api('POST', '/administrators', { name: name.value, role: role.value, password: pw.value }); } finally { pw.value = ''; pw2.value = ''; }
        ctx.notify(`Added ${name.value}.`);
        name.value = '';
        await load();
      });
    },
  }, field('Name', name), field('Role', role), field('Password', pw), field('Verify password', pw2), h('button', { type: 'submit' }, 'Add'));
  replace(ctx.main, heading('Administrators'), add, list);
  await load();
};
