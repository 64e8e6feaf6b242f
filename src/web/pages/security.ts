// Security: methods in the client's order with what each needs, the passcode's age, set or rotate it (typed twice), end an overlap, bypass in red, client-certificate trust.

import type { SecurityInfo } from '../../api/admin-contract.js';
import { age, h, replace, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page, type PageContext } from '../page.js';

/** Trusting client certificates: a CA bundle (a file or pasted PEM), the subject/SAN rules, a CRL on the server; and removing the trust. */
function certificateForm(ctx: PageContext, s: SecurityInfo, draw: () => Promise<void>): HTMLElement {
  const c = s.certificate;
  const file = h('input', { type: 'file', name: 'caFile', accept: '.pem,.crt,.cer,application/x-pem-file' });
  const pem = h('textarea', { name: 'caPem', rows: 4, cols: 64, placeholder: '-----BEGIN CERTIFICATE-----' });
  const subject = h('input', { name: 'subjectPattern', value: c?.subjectPattern ?? '', placeholder: '*.contoso.com' });
  const san = h('input', { name: 'sanPattern', value: c?.sanPattern ?? '' });
  const crl = h('input', { name: 'crlPath', value: c?.crlPath ?? '', placeholder: '/etc/deployr/clients.crl', size: 40 });
  const eku = h('input', { type: 'checkbox', name: 'requireClientAuthEku', checked: c ? c.requireClientAuthEku : true });
  return h('form', {
    class: 'stack', 'aria-label': 'Trust client certificates',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      void guarded(ctx, async () => {
        const caPem = file.files?.[0] ? await file.files[0].text() : pem.value;
        if (!caPem.trim()) { ctx.notify('Choose a CA bundle file or paste the PEM certificates.', 'error'); return; }
        const r = await api<SecurityInfo>('PUT', '/security/certificate', {
          caPem, requireClientAuthEku: eku.checked,
          ...(subject.value.trim() ? { subjectPattern: subject.value.trim() } : {}),
          ...(san.value.trim() ? { sanPattern: san.value.trim() } : {}),
          ...(crl.value.trim() ? { crlPath: crl.value.trim() } : {}),
        });
        ctx.notify(`Client-certificate trust saved (revision ${r.revision}).`);
        await draw();
      });
    },
  }, field('CA bundle file (PEM)', file), field('…or paste the PEM certificates', pem), field('Subject CN must match (glob, optional)', subject),
  field('A SAN must match (glob, optional)', san), field('CRL file on the server (absolute path, optional)', crl), field('Require the clientAuth EKU', eku),
  h('div', { class: 'buttons' }, h('button', { type: 'submit' }, c ? 'Replace the trust' : 'Trust these CAs'),
    c ? h('button', {
      type: 'button', class: 'secondary', 'data-action': 'clear-certificate',
      onclick: () => void guarded(ctx, async () => {
        if (!window.confirm('Remove client-certificate trust? Machines can no longer sign in with their certificates.')) return;
        await api('DELETE', '/security/certificate');
        ctx.notify('Client-certificate trust removed.');
        await draw();
      }),
    }, 'Remove the trust') : null));
}

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
      s.previousPasscodeValidUntil ? h('p', {}, `The previous passcode is still accepted until ${when(s.previousPasscodeValidUntil)}.`,
        ctx.can('admin') ? [' ', h('button', {
          type: 'button', class: 'secondary', 'data-action': 'end-overlap',
          onclick: () => void guarded(ctx, async () => {
            if (!window.confirm('End the overlap now? The previous passcode and the tokens issued under it stop working at once.')) return;
            const r = await api<SecurityInfo>('POST', '/security/end-overlap');
            ctx.notify(`Overlap ended (revision ${r.revision}).`);
            await draw();
          }),
        }, 'End the overlap now')] : null) : null,
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
    const c = s.certificate;
    parts.push(h('h2', {}, 'Client certificates'), h('p', { 'data-certificate': c ? 'set' : 'unset' }, c
      ? `Trusted CA bundle set${c.subjectPattern ? `; subject ${c.subjectPattern}` : ''}${c.sanPattern ? `; SAN ${c.sanPattern}` : ''}${c.crlPath ? `; CRL ${c.crlPath}` : ''}; clientAuth EKU ${c.requireClientAuthEku ? 'required' : 'not required'}.`
      : 'Not configured.'));
    if (c?.caCertificates.length) parts.push(h('ul', { class: 'cas' }, c.caCertificates.map((ca) => h('li', {}, ca.subject, h('span', { class: 'muted' }, ` (until ${when(ca.notAfter)}, SHA-256 ${ca.sha256})`)))));
    if (ctx.can('admin')) parts.push(certificateForm(ctx, s, draw));
    replace(ctx.main, heading('Security', h('span', { class: 'muted' }, `revision ${s.revision}`)), ...parts);
  };
  await draw();
};
