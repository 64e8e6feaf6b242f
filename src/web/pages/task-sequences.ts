// Task sequences: the list, import by upload, and one task sequence's versions with its step tree (types and conditions).

import { h, replace, table, type Child } from '../dom.js';
import { api } from '../http.js';
import { guarded, heading, type Page } from '../page.js';

interface TsOverview { id: string; name: string; description: string | null; versions: { versionNo: number; status: string }[] }
interface StepNode { name: string; typeId: string | null; isGroup: boolean; enabled: boolean; condition: string | null; continueOnError: boolean; groupMembers: StepNode[] }
interface TsDetail { id: string; name: string; description: string | null; versions: { versionNo: number; status: string; steps: StepNode[] }[] }

function tree(steps: StepNode[]): HTMLElement {
  return h('ul', { class: 'tree' }, steps.map((s) => h('li', { class: s.enabled ? '' : 'disabled' },
    h('span', { class: 'step-name' }, s.name),
    ' ', h('span', { class: 'tag' }, s.isGroup ? 'group' : s.typeId ?? ''),
    !s.enabled ? h('span', { class: 'tag' }, 'disabled') : null,
    s.continueOnError ? h('span', { class: 'tag' }, 'continue on error') : null,
    s.condition ? h('div', { class: 'condition' }, 'if ', h('code', {}, s.condition)) : null,
    s.groupMembers?.length ? tree(s.groupMembers) : null)));
}

/** The task sequence list, with import. */
export const taskSequencesPage: Page = async (ctx) => {
  const list = h('div');
  const load = async (): Promise<void> => {
    const { taskSequences } = await api<{ taskSequences: TsOverview[] }>('GET', '/task-sequences');
    replace(list, taskSequences.length === 0 ? h('p', { class: 'muted' }, 'No task sequences yet.') : table<TsOverview>([
      ['Name', (t) => h('a', { href: `#/task-sequences/${t.id}`, 'data-ts': t.id }, t.name)],
      ['Versions', (t) => t.versions.map((v) => `v${v.versionNo} ${v.status}`).join(', ')],
      ['Id', (t) => h('code', {}, t.id)],
    ], taskSequences));
  };
  let importer: Child = null;
  if (ctx.can('operator')) {
    const file = h('input', { type: 'file', accept: '.json,application/json', name: 'import', 'aria-label': 'Task sequence export (JSON)' });
    importer = h('form', {
      class: 'inline',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void guarded(ctx, async () => {
          const f = file.files?.[0];
          if (!f) { ctx.notify('Choose a DeployR task sequence export (JSON) first.', 'error'); return; }
          let json: unknown;
          try { json = JSON.parse((await f.text()).replace(/^\uFEFF/, '')); } catch { ctx.notify(`${f.name} is not valid JSON.`, 'error'); return; }
          const t = await api<TsOverview>('POST', '/task-sequences', json);
          ctx.notify(`Imported "${t.name}".`);
          file.value = '';
          await load();
        });
      },
    }, file, h('button', { type: 'submit' }, 'Import'));
  }
  replace(ctx.main, heading('Task sequences', importer), list);
  await load();
};

/** One task sequence. */
export const taskSequenceDetailPage: Page = async (ctx) => {
  const id = ctx.param as string;
  const ts = await api<TsDetail>('GET', `/task-sequences/${encodeURIComponent(id)}`);
  const draw = (): void => {
    const remove = ctx.can('operator') ? h('button', {
      type: 'button', class: 'danger', 'data-action': 'delete',
      onclick: () => void guarded(ctx, async () => {
        if (!window.confirm(`Delete "${ts.name}" with every version? Its past runs stay.`)) return;
        await api('DELETE', `/task-sequences/${encodeURIComponent(ts.id)}`);
        ctx.notify(`Deleted "${ts.name}".`);
        location.hash = '#/task-sequences';
      }),
    }, 'Delete') : null;
    replace(ctx.main, heading(ts.name, h('a', { href: '#/task-sequences' }, 'All task sequences'), remove),
      ts.description ? h('p', {}, ts.description) : null,
      h('p', { class: 'muted' }, 'Id ', h('code', {}, ts.id)),
      ts.versions.map((v) => h('section', { class: 'version' },
        h('h2', {}, `Version ${v.versionNo} `, h('span', { class: `status ${v.status === 'Active' ? 'succeeded' : 'muted'}` }, v.status)),
        ctx.can('operator') && v.status !== 'Active' ? h('button', {
          type: 'button', class: 'secondary',
          onclick: () => void guarded(ctx, async () => {
            await api('POST', `/task-sequences/${encodeURIComponent(ts.id)}/activate`, { version: v.versionNo });
            ctx.notify(`Version ${v.versionNo} is now Active.`);
            Object.assign(ts, await api<TsDetail>('GET', `/task-sequences/${encodeURIComponent(id)}`));
            draw();
          }),
        }, 'Activate') : null,
        tree(v.steps))));
  };
  draw();
};
