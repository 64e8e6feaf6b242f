// Scoped passcodes: list with scope, expiry and usage (viewer); add, typed twice or generated and shown once, and revoke (admin).

import type { AddedScopedPasscodeInfo, ScopedPasscodeInfo } from '../../api/admin-contract.js';
import { h, replace, table, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

/** The scope in words. */
function scopeText(p: ScopedPasscodeInfo): string {
  return [
    p.scope.taskSequences.length > 0 ? `task sequences ${p.scope.taskSequences.join(', ')}` : 'any task sequence',
    p.scope.sources.length > 0 ? `from ${p.scope.sources.join(', ')}` : 'from anywhere',
    ...(p.scope.context ? [`${p.scope.context} only`] : []),
  ].join('; ');
}

/** Splits a text field's lines or commas into values. */
function values(text: string): string[] {
  return text.split(/[\s,]+/).map((v) => v.trim()).filter((v) => v !== '');
}

/** The scoped passcodes page. */
export const passcodesPage: Page = async (ctx) => {
  const admin = ctx.can('admin');
  const list = h('div');
  // Where a generated passcode is shown, once: it is cleared when the page is left or another is added.
  const shown = h('div', { class: 'shown-once', 'aria-live': 'polite' });
  ctx.onLeave(() => replace(shown));
  const load = async (): Promise<void> => {
    const { passcodes } = await api<{ passcodes: ScopedPasscodeInfo[] }>('GET', '/passcodes');
    replace(list, passcodes.length === 0 ? h('p', { class: 'muted' }, 'No scoped passcodes yet.') : table<ScopedPasscodeInfo>([
      ['Name', (p) => p.name],
      ['Kind', (p) => (p.publicId ? `${p.kind} (${p.publicId}-…)` : p.kind)],
      ['State', (p) => p.state],
      ['Scope', (p) => scopeText(p)],
      ['Expires', (p) => (p.expiresAt ? when(p.expiresAt) : 'never')],
      ['Uses left', (p) => (p.maxUses === null ? `unlimited (${p.uses} used)` : `${p.usesLeft} of ${p.maxUses}`)],
      ['Last used', (p) => (p.lastUsedAt ? when(p.lastUsedAt) : 'never')],
      ['', (p) => (admin && p.state !== 'revoked' ? h('button', {
        type: 'button', class: 'secondary',
        onclick: () => void guarded(ctx, async () => {
          if (!window.confirm(`Revoke ${p.name}? Its tokens stop working at once.`)) return;
          await api('DELETE', `/passcodes/${encodeURIComponent(p.name)}`);
          ctx.notify(`Revoked ${p.name}.`);
          await load();
        }),
      }, 'Revoke') : null)],
    ], passcodes));
  };

  if (!admin) {
    replace(ctx.main, heading('Scoped passcodes'), list);
    await load();
    return;
  }
  const name = h('input', { name: 'name', required: true, pattern: '[a-z0-9][a-z0-9._\\-]{0,63}' });
  const generate = h('input', { type: 'checkbox', name: 'generate', checked: true });
  const pc = h('input', { type: 'password', name: 'passcode', autocomplete: 'new-password' });
  const pc2 = h('input', { type: 'password', name: 'verify', autocomplete: 'new-password' });
  const ts = h('input', { name: 'taskSequences', placeholder: '<guid>[:<version>], …' });
  const from = h('input', { name: 'sources', placeholder: '10.1.0.0/16, …' });
  const hours = h('input', { type: 'number', name: 'hours', min: 0, step: 'any', placeholder: 'never' });
  const uses = h('input', { type: 'number', name: 'uses', min: 1, placeholder: 'unlimited' });
  const context = h('select', { name: 'context' }, h('option', { value: '' }, 'boot and full OS'), h('option', { value: 'boot' }, 'boot only'), h('option', { value: 'fullos' }, 'full OS only'));
  const add = h('form', {
    class: 'filters', 'aria-label': 'Add a scoped passcode',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      void guarded(ctx, async () => {
        replace(shown);
        const typed = !generate.checked;
        if (typed && pc.value !== pc2.value) { ctx.notify('The two passcodes do not match.', 'error'); return; }
        const body: Record<string, unknown> = {
          name: name.value, taskSequences: values(ts.value), sources: values(from.value),
          ...(typed ? { passcode: pc.value, verify: pc2.value } : { generate: true }),
          ...(hours.value !== '' && Number(hours.value) > 0 ? { expiresInSeconds: Math.round(Number(hours.value) * 3600) } : {}),
          ...(uses.value !== '' ? { maxUses: Number(uses.value) } : {}),
          ...(context.value !== '' ? { context: context.value } : {}),
        };
        let added: AddedScopedPasscodeInfo;
        try { added = await api<AddedScopedPasscodeInfo>('POST', '/passcodes', body); } finally { pc.value = ''; pc2.value = ''; }
        for (const w of added.warnings) ctx.notify(w);
        ctx.notify(`Added ${added.passcode.name}.`);
        if (added.generated) {
          replace(shown, h('p', {}, `The passcode of ${added.passcode.name}, shown only now (it cannot be shown again; letters are not case-sensitive):`),
            h('p', { class: 'passcode' }, h('code', {}, added.generated)),
            h('button', { type: 'button', class: 'secondary', onclick: () => replace(shown) }, 'I have noted it: hide'));
        }
        name.value = '';
        await load();
      });
    },
  }, field('Name', name), field('Generate one', generate), field('Or type a passcode', pc), field('Verify passcode', pc2),
  field('Task sequences', ts), field('Sources (CIDR)', from), field('Expires in hours', hours), field('Uses', uses), field('Context', context),
  h('button', { type: 'submit' }, 'Add'));
  replace(ctx.main, heading('Scoped passcodes'), add, shown, list);
  await load();
};
