// `deployr audit [list]|verify|export`: read and check the audit trail.

import type { AuditKind } from '../domain/audit.js';
import type { AuditStore } from '../engine/ports.js';
import type { CommandIo } from './output.js';

/** Filters of `deployr audit`. */
export interface AuditListFlags {
  since?: string;
  method?: string;
  result?: string;
  kind?: string;
  limit?: string;
  json?: boolean;
}

function sinceToIso(since: string | undefined): string | undefined {
  if (!since) return undefined;
  const rel = /^(\d+)([smhd])$/.exec(since);
  if (rel) return new Date(Date.now() - Number(rel[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[rel[2] as 's' | 'm' | 'h' | 'd'] * 1000).toISOString();
  const t = Date.parse(since);
  if (Number.isNaN(t)) throw new Error(`--since "${since}" is neither a time (2026-11-28T10:00Z) nor a duration (2h, 7d).`);
  return new Date(t).toISOString();
}

/** `deployr audit`: entries oldest first, filtered. */
export async function auditList(flags: AuditListFlags, store: AuditStore, io: CommandIo): Promise<number> {
  const since = sinceToIso(flags.since);
  const entries = await store.list({
    ...(since ? { since } : {}), ...(flags.method ? { method: flags.method } : {}), ...(flags.result ? { result: flags.result } : {}),
    ...(flags.kind ? { kind: flags.kind as AuditKind } : {}), ...(flags.limit ? { limit: Number(flags.limit) } : {}),
  });
  if (flags.json) { for (const e of entries) io.out(JSON.stringify(e)); return 0; }
  for (const e of entries) {
    io.out(`${e.seq}\t${e.at}\t${e.kind}\t${e.method}\t${e.result}\t${e.reason}\t${e.subject}\t${e.source ?? '-'}\t${e.device ?? '-'}`);
  }
  return 0;
}

/** `deployr audit verify`: recomputes the HMAC chain; exit 1 when broken. */
export async function auditVerify(store: AuditStore, io: CommandIo): Promise<number> {
  const v = await store.verify();
  if (v.ok) { io.out(`The audit trail is intact (${v.checked} entries checked).`); return 0; }
  io.out(`The audit trail has been tampered with: entry ${v.brokenAt} does not match the chain (${v.checked} entries before it are intact).`);
  return 1;
}

/** `deployr audit export`: every entry as a JSON line. */
export async function auditExport(store: AuditStore, io: CommandIo): Promise<number> {
  for (const e of await store.list({})) io.out(JSON.stringify(e));
  return 0;
}
