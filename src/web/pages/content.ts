// Content: items, create, one item's versions and sizes, upload a version with a progress bar, activate.

import { bytes, h, replace, table, when, type Child } from '../dom.js';
import { api, upload } from '../http.js';
import { field, guarded, heading, type Page } from '../page.js';

interface Overview { id: string; name: string; contentItemPurpose: string; type: string; versions: { versionNo: number; status: string; files: number; size: number }[] }
interface Version { versionNo: number; status: string; description: string | null; files: { path: string; size: number }[]; createdDate: number }
interface Item { id: string; name: string; description: string | null; contentItemPurpose: string; type: string; versions: Version[] }

/** The content list, with create. */
export const contentPage: Page = async (ctx) => {
  const list = h('div');
  const load = async (): Promise<void> => {
    const { contentItems } = await api<{ contentItems: Overview[] }>('GET', '/content');
    replace(list, contentItems.length === 0 ? h('p', { class: 'muted' }, 'No content items yet.') : table<Overview>([
      ['Name', (c) => h('a', { href: `#/content/${c.id}` }, c.name)],
      ['Purpose', (c) => c.contentItemPurpose],
      ['Type', (c) => c.type],
      ['Versions', (c) => c.versions.map((v) => `v${v.versionNo} ${v.status} (${bytes(v.size)})`).join(', ')],
    ], contentItems));
  };
  let create: Child = null;
  if (ctx.can('operator')) {
    const name = h('input', { name: 'name', required: true });
    const purpose = h('select', { name: 'purpose' }, ['Application', 'DriverPack', 'OperatingSystem', 'Other'].map((p) => h('option', { value: p }, p)));
    const type = h('select', { name: 'type' }, ['SingleFile', 'Folder'].map((p) => h('option', { value: p }, p)));
    create = h('form', {
      class: 'filters',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void guarded(ctx, async () => {
          const item = await api<Item>('POST', '/content', { name: name.value, purpose: purpose.value, type: type.value });
          ctx.notify(`Created "${item.name}".`);
          location.hash = `#/content/${item.id}`;
        });
      },
    }, field('Name', name), field('Purpose', purpose), field('Type', type), h('button', { type: 'submit' }, 'Create'));
  }
  replace(ctx.main, heading('Content'), create, list);
  await load();
};

/** One content item. */
export const contentDetailPage: Page = async (ctx) => {
  const id = ctx.param as string;
  const draw = async (): Promise<void> => {
    const item = await api<Item>('GET', `/content/${encodeURIComponent(id)}`);
    let uploader: Child = null;
    if (ctx.can('operator')) {
      const file = h('input', { type: 'file', name: 'file', 'aria-label': 'File for a new version' });
      const bar = h('progress', { max: '1', value: '0', hidden: true });
      uploader = h('form', {
        class: 'inline',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void guarded(ctx, async () => {
            const f = file.files?.[0];
            if (!f) { ctx.notify('Choose a file first.', 'error'); return; }
            bar.hidden = false;
            const v = await upload(`/content/${encodeURIComponent(item.id)}/versions?fileName=${encodeURIComponent(f.name)}`, f, (p) => { bar.value = p; }) as Version;
            ctx.notify(`Uploaded version ${v.versionNo} (inactive until activated).`);
            await draw();
          });
        },
      }, file, h('button', { type: 'submit' }, 'Upload version'), bar);
    }
    replace(ctx.main, heading(item.name, h('a', { href: '#/content' }, 'All content')),
      h('p', { class: 'muted' }, `${item.contentItemPurpose}, ${item.type}. Id `, h('code', {}, item.id)),
      uploader,
      item.versions.length === 0 ? h('p', { class: 'muted' }, 'No versions yet.') : table<Version>([
        ['Version', (v) => v.versionNo],
        ['Status', (v) => h('span', { class: `status ${v.status === 'Active' ? 'succeeded' : 'muted'}` }, v.status)],
        ['Files', (v) => v.files.map((f) => f.path).join(', ')],
        ['Size', (v) => bytes(v.files.reduce((n, f) => n + f.size, 0))],
        ['Added', (v) => when(new Date(v.createdDate * 1000).toISOString())],
        ['', (v) => ctx.can('operator') && v.status !== 'Active' ? h('button', {
          type: 'button', class: 'secondary',
          onclick: () => void guarded(ctx, async () => { await api('POST', `/content/${encodeURIComponent(item.id)}/versions/${v.versionNo}/activate`); await draw(); }),
        }, 'Activate') : null],
      ], item.versions));
  };
  await draw();
};
