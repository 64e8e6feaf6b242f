// The console's entry point: sign-in, the navigation, and a hash router over the pages.

import type { AdminRoleName, AdminSessionInfo } from '../api/admin-contract.js';
import { h, replace } from './dom.js';
import { api, ApiError, currentSession, setCsrf } from './http.js';
import { field, type Page, type PageContext } from './page.js';
import { dashboardPage } from './pages/dashboard.js';
import { runDetailPage, runsPage } from './pages/runs.js';
import { taskSequenceDetailPage, taskSequencesPage } from './pages/task-sequences.js';
import { contentDetailPage, contentPage } from './pages/content.js';
import { securityPage } from './pages/security.js';
import { auditPage } from './pages/audit.js';
import { administratorsPage } from './pages/administrators.js';
import { bootMediaPage } from './pages/boot-media.js';
import { passcodesPage } from './pages/passcodes.js';

const RANK: Record<AdminRoleName, number> = { viewer: 0, operator: 1, admin: 2 };

/** The pages in the navigation, with the role each needs to appear. */
const NAV: { path: string; title: string; role: AdminRoleName }[] = [
  { path: 'dashboard', title: 'Dashboard', role: 'viewer' },
  { path: 'runs', title: 'Runs', role: 'viewer' },
  { path: 'task-sequences', title: 'Task sequences', role: 'viewer' },
  { path: 'content', title: 'Content', role: 'viewer' },
  { path: 'security', title: 'Security', role: 'viewer' },
  { path: 'passcodes', title: 'Passcodes', role: 'viewer' },
  { path: 'audit', title: 'Audit', role: 'viewer' },
  { path: 'media', title: 'Boot media', role: 'viewer' },
  { path: 'administrators', title: 'Administrators', role: 'admin' },
];

const ROUTES: Record<string, { list: Page; detail?: Page }> = {
  dashboard: { list: dashboardPage },
  runs: { list: runsPage, detail: runDetailPage },
  'task-sequences': { list: taskSequencesPage, detail: taskSequenceDetailPage },
  content: { list: contentPage, detail: contentDetailPage },
  security: { list: securityPage },
  passcodes: { list: passcodesPage },
  audit: { list: auditPage },
  media: { list: bootMediaPage },
  administrators: { list: administratorsPage },
};

const root = document.getElementById('app') as HTMLElement;
let leave: (() => void)[] = [];

function signInPage(reason?: string): void {
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const message = h('p', { class: 'message error', role: 'alert' }, reason ?? '');
  const form = h('form', {
    class: 'sign-in',
    onsubmit: (ev: Event) => {
      ev.preventDefault();
      message.textContent = '';
      void api('POST', '/session', { name: name.value, password: password.value }).then(() => start(), (err: Error) => {
        password.value = '';
        message.textContent = err instanceof ApiError && err.code === 'AUTH_THROTTLED' ? 'Too many failed attempts; wait a little and try again.' : err.message;
      });
    },
  }, h('h1', {}, 'deployr console'), field('Name', name), field('Password', password), h('button', { type: 'submit' }, 'Sign in'), message);
  replace(root, h('main', { class: 'center' }, form));
}

function layout(session: AdminSessionInfo): { main: HTMLElement; notice: HTMLElement } {
  const main = h('main', { id: 'main', tabindex: '-1' });
  const notice = h('p', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const signOut = h('button', { type: 'button', class: 'link', onclick: () => { void api('DELETE', '/session').finally(() => { setCsrf(''); signInPage('Signed out.'); }); } }, 'Sign out');
  const nav = h('nav', { 'aria-label': 'Console' }, h('ul', {}, NAV.filter((n) => RANK[session.role] >= RANK[n.role]).map((n) => h('li', {}, h('a', { href: `#/${n.path}`, 'data-page': n.path }, n.title)))));
  replace(root, h('div', { class: 'shell' },
    h('header', { class: 'top' }, h('a', { href: '#/dashboard', class: 'brand' }, 'deployr'), nav, h('span', { class: 'who' }, `${session.name} (${session.role})`), signOut),
    notice, main));
  return { main, notice };
}

async function route(session: AdminSessionInfo, main: HTMLElement, notice: HTMLElement): Promise<void> {
  for (const f of leave) f();
  leave = [];
  notice.textContent = '';
  notice.className = 'message';
  const [, page = 'dashboard', param = null] = location.hash.replace(/^#/, '').split('/').map((p) => decodeURIComponent(p));
  const r = ROUTES[page] ?? ROUTES.dashboard!;
  for (const a of document.querySelectorAll('nav a')) a.toggleAttribute('aria-current', a.getAttribute('data-page') === page);
  const ctx: PageContext = {
    main, session, param: param || null,
    notify: (text, kind = 'ok') => { notice.textContent = text; notice.className = `message ${kind}`; },
    can: (role) => RANK[session.role] >= RANK[role],
    onLeave: (f) => leave.push(f),
  };
  replace(main);
  try {
    await (param && r.detail ? r.detail : r.list)(ctx);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { signInPage('Your session has ended; sign in again.'); return; }
    ctx.notify((err as Error).message, 'error');
  }
}

async function start(): Promise<void> {
  const session = await currentSession();
  if (!session) { signInPage(); return; }
  const { main, notice } = layout(session);
  window.onhashchange = () => void route(session, main, notice);
  if (!location.hash) location.hash = '#/dashboard';
  await route(session, main, notice);
}

void start().catch((err: Error) => replace(root, h('p', { class: 'message error' }, err.message)));
