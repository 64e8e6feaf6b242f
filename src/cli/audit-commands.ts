// `deployr audit [list]|verify|export`: read and check the audit trail.

import { AUDIT_KINDS, AUDIT_METHODS, AUDIT_RESULTS, type AuditKind } from '../domain/audit.js';
import { DeployrError } from '../domain/errors.js';
import type { AuditStore } from '../engine/ports.js';
import { plural, type CommandIo } from './output.js';

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
  if (Number.isNaN(t)) throw new DeployrError('INVALID_INPUT', '--since is neither a time (2026-11-28T10:00Z) nor a duration (2h, 7d).');
  return new Date(t).toISOString();
}

/**
 * Checks a filter value against the values deployr writes and those already in the trail (so a
 * value written by a newer version can still be filtered); a typo gets the allowed values.
 */
async function checkFilter(flag: '--method' | '--result', value: string | undefined, known: readonly string[], store: AuditStore): Promise<void> {
  if (value === undefined || known.includes(value)) return;
  const field = flag === '--method' ? 'method' : 'result';
  const present = new Set((await store.list({})).map((e) => e[field]));
  if (present.has(value)) return;
  const allowed = [...new Set([...known, ...present])].sort();
  throw new DeployrError('INVALID_INPUT', `Unknown ${flag} value; use one of: ${allowed.join(', ')}.`);
}

/** `deployr audit`: entries oldest first, filtered. */
export async function auditList(flags: AuditListFlags, store: AuditStore, io: CommandIo): Promise<number> {
  if (flags.limit !== undefined && !/^[1-9][0-9]{0,8}$/.test(flags.limit)) {
    throw new DeployrError('INVALID_INPUT', '--limit takes a whole number of entries from 1 to 999999999.');
  }
  if (flags.kind !== undefined && !AUDIT_KINDS.includes(flags.kind as AuditKind)) {
    throw new DeployrError('INVALID_INPUT', `Unknown --kind value; use one of: ${AUDIT_KINDS.join(', ')}.`);
  }
  await checkFilter('--method', flags.method, AUDIT_METHODS, store);
  await checkFilter('--result', flags.result, AUDIT_RESULTS, store);
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

/**
 * `deployr audit verify [--anchor SEQ:MAC]`: recomputes the HMAC chain; exit 1 when broken. The chain
 * alone cannot show that the newest entries were cut off; an anchor (the `seq:mac` this command printed
 * earlier, or the last line of an export kept elsewhere) must still be in the chain, unchanged.
 */
export async function auditVerify(store: AuditStore, io: CommandIo, flags: { anchor?: string } = {}): Promise<number> {
  const v = await store.verify();
  if (!v.ok) {
    io.out(`The audit trail has been tampered with: entry ${v.brokenAt} does not match the chain (${plural(v.checked, 'entry', 'entries')} before it ${v.checked === 1 ? 'is' : 'are'} intact).`);
    return 1;
  }
  const head = (await store.list({ limit: 1 }))[0];
  if (flags.anchor !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(flags.anchor.trim());
    if (!m) throw new DeployrError('INVALID_INPUT', '--anchor takes SEQ:MAC as printed by deployr audit verify (for example 1234:9f86d0…, 64 hex digits).');
    const seq = Number(m[1]);
    const entry = seq <= (head?.seq ?? 0) ? (await store.list({})).find((e) => e.seq === seq) : undefined;
    if (!entry || entry.mac !== m[2]) {
      io.out(`The audit trail does not contain the anchor entry ${seq} as recorded: entries were removed from its end, or it was replaced.`);
      return 1;
    }
  }
  io.out(`The audit trail is intact (${plural(v.checked, 'entry', 'entries')} checked).`);
  if (head) io.out(`Head: ${head.seq}:${head.mac}  (keep it elsewhere; later run: deployr audit verify --anchor ${head.seq}:${head.mac})`);
  return 0;
}

/** `deployr audit export`: every entry as a JSON line. */
export async function auditExport(store: AuditStore, io: CommandIo): Promise<number> {
  for (const e of await store.list({})) io.out(JSON.stringify(e));
  return 0;
}
