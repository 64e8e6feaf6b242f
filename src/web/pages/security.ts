// Security: methods in the client's order with what each needs, the passcode's age, set or rotate it (typed twice), bypass in red.

import type { SecurityInfo } from '../../api/admin-contract.js';
import { age, h, replace, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

/** The security page. */
export const securityPage: Page = async (ctx) => {
  const draw = async (): Promise<void> => {
    const s = await api<SecurityInfo>('GET', '/security');
    const parts: (HTMLElement | null)[] = [];
    if (s.bypass) parts.push(h('p', { class: 'alert danger', 'data-bypass': 'on', role: 'alert' }, 'Bypass (anonymous) authentication is ON: anyone who reaches this server can run any task sequence. Lab use only.'));
    parts.push(h('h2', {}, "Methods, in the client's order"),
      s.methods.length === 0 ? h('p', { class: 'alert' }, 'No method is configured: clients cannot proceed and no token is issued.')
        : h('ol', { class: 'methods' }, s.methods.map((m) => h('li', { class: m.method === 'anonymous' ? 'danger' : '' }, h('strong', {}, m.method), ': ', m.needs))));
    parts.push(h('h2', {}, 'Passcode'),
      h('p', { 'data-passcode': s.passcode ? 'set' : 'unset' }, s.passcode
        ? `Set ${when(s.passcode.changedAt)} (${age(s.passcode.ageSeconds)} ago, generation ${s.passcode.generation}).${s.passcode.reminderDue ? ' It is older than its reminder period: consider changing it.' : ''}`
        : 'Not set.'),
      s.previousPasscodeValidUntil ? h('p', {}, `The previous passcode is still accepted until ${when(s.previousPasscodeValidUntil)}.`) : null,
      h('p', { class: 'muted' }, `Rotation overlap: ${s.rotationOverlapSeconds ? age(s.rotationOverlapSeconds) : 'off'}. Reminder: ${s.remindAfterSeconds ? `after ${age(s.remindAfterSeconds)}` : 'off'}.`));
    if (ctx.can('admin')) {
      const pass = h('input', { type: 'password', name: 'passcode', autocomplete: 'new-password', required: true });
      const verify = h('input', { type: 'password', name: 'verify', autocomplete: 'new-password', required: true });
      const overlap = h('input', { type: 'number', name: 'overlap', min: '0', value: String(Math.floor(s.rotationOverlapSeconds / 60)) });
      parts.push(h('form', {
        class: 'stack', 'aria-label': 'Set or rotate the passcode',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void guarded(ctx, async () => {
            if (pass.value !== verify.value) { ctx.notify('The two passcodes do not match; nothing changed.', 'error'); return; }
            try {
              const r = await api<SecurityInfo>('PUT', '/security/passcode', { passcode: pass.value, verify: verify.value, overlapSeconds: Number(overlap.value || '0') * 60 });
              ctx.notify(`Passcode saved (revision ${r.revision}).${r.warnings?.length ? ` ${r.warnings.join(' ')}` : ''}`);
            } finally { pass.value = ''; verify.value = ''; }
            await draw();
          });
        },
      }, field('New passcode', pass), field('Verify passcode', verify), field('Old passcode keeps working (minutes)', overlap), h('button', { type: 'submit' }, s.passcode ? 'Rotate passcode' : 'Set passcode')));
      parts.push(h('h2', {}, 'Bypass (anonymous)'), h('button', {
        type: 'button', class: s.bypass ? '' : 'danger',
        onclick: () => void guarded(ctx, async () => {
          if (!s.bypass && !window.confirm('Turn bypass ON? Anyone who reaches this server could run any task sequence.')) return;
          await api('PUT', '/security/bypass', { enabled: !s.bypass });
          await draw();
        }),
      }, s.bypass ? 'Turn bypass off' : 'Turn bypass on (lab only)'));
    }
    parts.push(h('h2', {}, 'Entra ID'), h('p', {}, s.entra ? `Tenant ${s.entra.tenantId}, application ${s.entra.clientId}, role ${s.entra.role}, authority ${s.entra.authority}.` : 'Not configured.'));
    parts.push(h('h2', {}, 'Client certificates'), h('p', {}, s.certificate ? `Trusted CA bundle set${s.certificate.subjectPattern ? `; subject ${s.certificate.subjectPattern}` : ''}${s.certificate.sanPattern ? `; SAN ${s.certificate.sanPattern}` : ''}; clientAuth EKU ${s.certificate.requireClientAuthEku ? 'required' : 'not required'}.` : 'Not configured.'));
    replace(ctx.main, heading('Security', h('span', { class: 'muted' }, `revision ${s.revision}`)), ...parts);
  };
  await draw();
};
