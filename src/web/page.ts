// What every console page gets: where to draw, who is signed in, and how to report.

import type { AdminRoleName, AdminSessionInfo } from '../api/admin-contract.js';
import { h, replace, type Child } from './dom.js';

/** A page's context. */
export interface PageContext {
  main: HTMLElement;
  session: AdminSessionInfo;
  /** The route's parameter (an id), if any. */
  param: string | null;
  /** Shows a one-line message (errors in red). */
  notify(text: string, kind?: 'ok' | 'error'): void;
  /** True when the signed-in role includes `role`. */
  can(role: AdminRoleName): boolean;
  /** Called when the page is left (close streams, timers). */
  onLeave(cleanup: () => void): void;
}

/** A page: draws into `ctx.main`. */
export type Page = (ctx: PageContext) => Promise<void>;

/** A page heading with optional extra content. */
export function heading(title: string, ...extra: Child[]): HTMLElement {
  return h('header', { class: 'page-head' }, h('h1', {}, title), ...extra);
}

/** Runs an action, reporting its error as a message instead of throwing. */
export async function guarded(ctx: PageContext, action: () => Promise<void>): Promise<void> {
  try { await action(); } catch (err) { ctx.notify((err as Error).message, 'error'); }
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement): HTMLElement {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}

/** Draws a page-sized message. */
export function placeholder(main: HTMLElement, text: string): void {
  replace(main, h('p', { class: 'muted' }, text));
}
