// Boot media: what is published under /Content/Boot with download links, and building new media (operator) with its progress.

import type { BootMediaJobInfo, BootMediaStatusInfo } from '../../api/admin-contract.js';
import { bytes, h, replace, table, when } from '../dom.js';
import { api } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

/** The job's state in words. */
function jobLine(job: BootMediaJobInfo): string {
  if (job.state === 'running') return `Building since ${when(job.startedAt)} (started by ${job.by}, for ${job.server}).`;
  if (job.state === 'succeeded') return `The last build (by ${job.by}) finished at ${when(job.finishedAt)}.`;
  return `The last build (by ${job.by}) failed at ${when(job.finishedAt)}: ${job.error ?? 'no reason given'}`;
}

/** The boot media page. */
export const bootMediaPage: Page = async (ctx) => {
  let timer: number | null = null;
  ctx.onLeave(() => { if (timer !== null) window.clearTimeout(timer); });
  const body = h('div');
  const draw = async (): Promise<void> => {
    const s = await api<BootMediaStatusInfo>('GET', '/media/status');
    const parts: (HTMLElement | null)[] = [];
    parts.push(h('h2', {}, 'Published'));
    if (!s.published) parts.push(h('p', { class: 'muted', 'data-published': 'no' }, 'No boot media are published yet.'));
    else {
      parts.push(h('p', { 'data-published': 'yes' }, `Built ${when(s.builtAt)}: kernel ${s.kernelVersion ?? '?'}, Node.js ${s.nodeVersion ?? '?'}, for ${s.server ?? '?'}; Secure Boot ${s.secureBoot ? 'yes' : 'no'}.`));
      if (s.matchesCertificate === false) parts.push(h('p', { class: 'alert danger', role: 'alert' }, "These media pin another certificate than the service's current one: machines booted from them will refuse the server. Build them again."));
      parts.push(table<BootMediaStatusInfo['files'][number]>([
        ['File', (f) => h('a', { href: f.url, download: f.name }, f.name)],
        ['Size', (f) => bytes(f.size)],
        ['State', (f) => h('span', { class: `status ${f.intact ? 'succeeded' : 'failed'}` }, f.intact ? 'ok' : 'missing or changed since the build')],
        ['SHA-256', (f) => h('code', {}, f.sha256)],
      ], s.files));
      if (s.manifestUrl) parts.push(h('p', {}, h('a', { href: s.manifestUrl }, 'media.json'), ' lists the files, the server and the pinned certificate. The media hold no secret.'));
    }
    parts.push(h('h2', {}, 'Build'));
    if (s.job) {
      parts.push(h('p', { 'data-job': s.job.state, class: s.job.state === 'failed' ? 'message error' : '' }, jobLine(s.job)));
      if (s.job.lines.length) parts.push(h('pre', { class: 'log', 'aria-label': 'Build progress' }, s.job.lines.join('\n')));
    } else parts.push(h('p', { class: 'muted', 'data-job': 'none' }, 'No build was started from the console since the service started.'));
    if (ctx.can('operator')) {
      const server = h('input', { name: 'server', value: s.server ?? location.origin, required: true, size: 40 });
      const secureBoot = h('input', { type: 'checkbox', name: 'secureBoot', checked: true });
      const noprompt = h('input', { type: 'checkbox', name: 'noprompt' });
      const level = h('input', { type: 'number', name: 'zstdLevel', min: '1', max: '19', value: '10' });
      const running = s.job?.state === 'running';
      parts.push(h('form', {
        class: 'stack', 'aria-label': 'Build boot media',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void guarded(ctx, async () => {
            await api('POST', '/media/build', { server: server.value.trim(), secureBoot: secureBoot.checked, noprompt: noprompt.checked, zstdLevel: Number(level.value || '10') });
            ctx.notify('Build started; this page follows it.');
            await draw();
          });
        },
      }, field('Server URL the media look for', server), field('Secure Boot (signed shim and GRUB)', secureBoot), field('No boot menu', noprompt),
      field('initrd compression (1 fast … 19 small)', level), h('button', { type: 'submit', disabled: running }, running ? 'Building…' : 'Build boot media')));
    }
    replace(body, ...parts);
    if (timer !== null) window.clearTimeout(timer);
    timer = s.job?.state === 'running' ? window.setTimeout(() => void guarded(ctx, draw), 2000) : null;
  };
  replace(ctx.main, heading('Boot media'), body);
  await draw();
};
