// `deployr configure`: the configuration tool. Security first: passcode, Entra ID, client certificates, bypass; show and check.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LocalStatus } from '../api/contract.js';
import type { SecurityAdmin, SecurityChange } from '../auth/security-admin.js';
import { checkNewPasscode } from '../domain/passcode-policy.js';
import { DeployrError } from '../domain/errors.js';
import { configuredMethods, type SecuritySettings } from '../domain/security-settings.js';
import type { VersionedSecuritySettings } from '../engine/ports.js';
import type { Prompter } from '../client/prompt.js';
import { describeDuration, formatDuration, parseDurationFlag, type CommandIo } from './output.js';
import { describeAge } from '../domain/duration-text.js';

/** What the configure commands need. */
export interface ConfigureDeps {
  admin: SecurityAdmin;
  readSettings(): Promise<VersionedSecuritySettings>;
  prompter: Prompter;
  io: CommandIo;
  /** Asks the running service (local listener) what it has applied; null when it is not running. */
  serviceStatus(): Promise<LocalStatus | null>;
  localPort: number;
  now?: () => Date;
  /** The failed-login counters in the store (read when the service is not running). */
  failedLogins?(): Promise<{ consecutive: number; alertSince: number }>;
  /** How many scoped passcodes are in each state (`active`, `expired`, `used-up`, `revoked`). */
  scopedPasscodeCounts?(): Promise<Record<string, number>>;
}

/** The scoped passcodes line of `configure show` (never a passcode), or null when there are none. */
export function scopedPasscodesLine(counts: Record<string, number>): string | null {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const others = (['expired', 'used-up', 'revoked'] as const).filter((k) => (counts[k] ?? 0) > 0).map((k) => `${counts[k]} ${k}`);
  return `  Scoped passcodes: ${counts.active ?? 0} active${others.length ? ` (${others.join(', ')})` : ''}; see deployr passcode list`;
}

/** The alert line, when consecutive failed logins have raised the alert. */
async function alertLine(deps: ConfigureDeps, status: LocalStatus | null): Promise<string | null> {
  const failed = status ? { consecutive: status.failedLogins.consecutive, alert: status.failedLogins.alert }
    : deps.failedLogins ? await deps.failedLogins().then((f) => ({ consecutive: f.consecutive, alert: f.alertSince > 0 })) : null;
  return failed?.alert ? `ALERT: ${failed.consecutive} consecutive failed logins; passcode checks are slowed for everyone until a login succeeds (see deployr audit --kind alert).` : null;
}

/** Flags of `deployr configure security`. */
export interface SecurityFlags {
  passcode?: boolean;
  clearPasscode?: boolean;
  bypass?: string;
  entraTenant?: string;
  entraClientId?: string;
  entraRole?: string;
  entraAuthority?: string;
  clearEntra?: boolean;
  certCa?: string;
  certSubject?: string;
  certSan?: string;
  certCrl?: string;
  certAllowNoEku?: boolean;
  clearCert?: boolean;
  overlap?: string;
  remindAfter?: string;
  endOverlap?: boolean;
}

/**
 * One change in words that read both as a pending change and after "Saved:" (e.g. "new passcode",
 * "rotation overlap 2 hours"); a rotation change names only what it changes. Never a secret.
 */
export function describeChange(change: SecurityChange): string {
  switch (change.kind) {
    case 'passcode': return 'new passcode';
    case 'clear-passcode': return 'passcode removed';
    case 'bypass': return change.enabled ? 'bypass (anonymous) authentication ON — lab use only' : 'bypass (anonymous) authentication off';
    case 'entra': return `Entra ID: tenant ${change.entra.tenantId}, application ${change.entra.clientId}, role ${change.entra.role}`;
    case 'clear-entra': return 'Entra ID settings removed';
    case 'certificate': return 'client certificates trusted from the given CA bundle';
    case 'clear-certificate': return 'client-certificate trust removed';
    case 'end-overlap': return 'rotation overlap ended: the previous passcode and its tokens stop';
    case 'rotation': return [
      change.overlapSeconds === undefined ? '' : `rotation overlap ${change.overlapSeconds > 0 ? describeDuration(change.overlapSeconds) : 'off'}`,
      change.remindAfterSeconds === undefined ? '' : `passcode reminder ${change.remindAfterSeconds > 0 ? `after ${describeDuration(change.remindAfterSeconds)}` : 'off'}`,
    ].filter(Boolean).join('; ');
  }
}

/** "New passcode": the first letter upper-cased. */
function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Asks for a new passcode twice (masked, or two lines of standard input); one the policy refuses, or a mismatch, changes nothing. */
export async function readNewPasscode(prompter: Prompter): Promise<string> {
  const first = await prompter.secret('Passcode:');
  if (first === null) throw new DeployrError('INVALID_INPUT', 'No passcode was given (the input ended); nothing changed.');
  // The policy is checked before the second prompt, so that nobody types twice a passcode that will be refused.
  checkNewPasscode(first);
  const second = await prompter.secret('Verify passcode:');
  if (second === null) throw new DeployrError('INVALID_INPUT', 'The passcode was not verified (the input ended); nothing changed.');
  if (first !== second) throw new DeployrError('INVALID_INPUT', 'The two passcodes do not match; nothing changed.');
  return first;
}

/** Turns the flags into changes (reading the passcode when asked); throws before anything is saved. */
export async function changesFromFlags(flags: SecurityFlags, prompter: Prompter): Promise<SecurityChange[]> {
  const changes: SecurityChange[] = [];
  if (flags.passcode && flags.clearPasscode) throw new DeployrError('INVALID_INPUT', '--passcode and --clear-passcode cannot be used together.');
  if (flags.overlap !== undefined || flags.remindAfter !== undefined) {
    changes.push({
      kind: 'rotation',
      ...(flags.overlap !== undefined ? { overlapSeconds: parseDurationFlag(flags.overlap, '--overlap') } : {}),
      ...(flags.remindAfter !== undefined ? { remindAfterSeconds: parseDurationFlag(flags.remindAfter, '--remind-after') } : {}),
    });
  }
  if (flags.endOverlap) {
    if (flags.passcode) throw new DeployrError('INVALID_INPUT', '--end-overlap and --passcode cannot be used together: --passcode --overlap 0 changes the passcode with no overlap.');
    changes.push({ kind: 'end-overlap' });
  }
  if (flags.clearPasscode) changes.push({ kind: 'clear-passcode' });
  if (flags.bypass !== undefined) {
    if (flags.bypass !== 'on' && flags.bypass !== 'off') throw new DeployrError('INVALID_INPUT', '--bypass takes on or off.');
    changes.push({ kind: 'bypass', enabled: flags.bypass === 'on' });
  }
  if (flags.clearEntra) changes.push({ kind: 'clear-entra' });
  if (flags.entraTenant || flags.entraClientId || flags.entraRole || flags.entraAuthority) {
    if (!flags.entraTenant || !flags.entraClientId || !flags.entraRole) {
      throw new DeployrError('INVALID_INPUT', 'Entra ID needs --entra-tenant, --entra-client-id and --entra-role together.');
    }
    changes.push({ kind: 'entra', entra: { tenantId: flags.entraTenant, clientId: flags.entraClientId, role: flags.entraRole, ...(flags.entraAuthority ? { authority: flags.entraAuthority } : {}) } });
  }
  if (flags.clearCert) changes.push({ kind: 'clear-certificate' });
  if (flags.certCa) {
    let caPem: string;
    try { caPem = readFileSync(flags.certCa, 'utf8'); } catch (err) {
      throw new DeployrError('INVALID_INPUT', `Cannot read the CA bundle ${flags.certCa} (${(err as NodeJS.ErrnoException).code ?? 'error'}); nothing changed.`);
    }
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new DeployrError('INVALID_INPUT', `${flags.certCa} holds no PEM certificate; nothing changed.`);
    changes.push({
      kind: 'certificate', certificate: {
        caPem, requireClientAuthEku: !flags.certAllowNoEku,
        ...(flags.certSubject ? { subjectPattern: flags.certSubject } : {}),
        ...(flags.certSan ? { sanPattern: flags.certSan } : {}),
        // Stored as an absolute path: the service reads it from its own working folder.
        ...(flags.certCrl ? { crlPath: resolve(flags.certCrl) } : {}),
      },
    });
  } else if (flags.certSubject || flags.certSan || flags.certCrl) {
    throw new DeployrError('INVALID_INPUT', '--cert-subject, --cert-san and --cert-crl go with --cert-ca.');
  }
  // Read the passcode last, so that other bad flags fail before anyone types a secret.
  if (flags.passcode) changes.push({ kind: 'passcode', passcode: await readNewPasscode(prompter) });
  return changes;
}

/** `deployr configure security ...`: validates, saves atomically with audit rows, reports. */
export async function configureSecurity(flags: SecurityFlags, deps: ConfigureDeps): Promise<number> {
  const changes = await changesFromFlags(flags, deps.prompter);
  if (changes.length === 0) {
    throw new DeployrError('INVALID_INPUT', 'Nothing to change: give --passcode, --clear-passcode, --bypass on|off, --entra-*, --clear-entra, --cert-ca, --clear-cert, --overlap, --end-overlap or --remind-after.');
  }
  const result = await deps.admin.apply(changes);
  for (const w of result.warnings) deps.io.err(`warning: ${w}`);
  if (!result.changed) {
    deps.io.out(`Nothing changed (revision ${result.revision}).`);
    return 0;
  }
  for (const c of changes) deps.io.out(`Saved: ${describeChange(c)}.`);
  deps.io.out(`Security settings saved (revision ${result.revision}); a running service applies them within a few seconds.`);
  return 0;
}

/** The lines of `deployr configure show`; never a secret. */
export function showLines(v: VersionedSecuritySettings, now: Date): string[] {
  const s: SecuritySettings = v.settings;
  const lines: string[] = [`Security settings (revision ${v.revision}, saved ${v.revision ? v.updatedAt : 'never'})`];
  const order = configuredMethods(s);
  lines.push(`  Methods in the client's order: ${order.length ? order.join(' → ') : 'none configured: clients cannot proceed and no token is issued'}`);
  if (s.bypass) lines.push('  WARNING: bypass (anonymous) authentication is ON: anyone who reaches the server can run any task sequence. Lab use only.');
  lines.push(`  Bypass (anonymous): ${s.bypass ? 'on' : 'off'}`);
  lines.push(`  Certificate: ${s.certificate ? `trusted CA bundle set${s.certificate.subjectPattern ? `, subject ${s.certificate.subjectPattern}` : ''}${s.certificate.sanPattern ? `, SAN ${s.certificate.sanPattern}` : ''}${s.certificate.crlPath ? `, CRL ${s.certificate.crlPath}` : ''}, clientAuth EKU ${s.certificate.requireClientAuthEku ? 'required' : 'not required'}` : 'not configured'}`);
  lines.push(`  Entra ID: ${s.entra ? `tenant ${s.entra.tenantId}, application ${s.entra.clientId}, role ${s.entra.role}, authority ${s.entra.authority}` : 'not configured'}`);
  if (s.passcode) {
    const ageSeconds = Math.max(0, Math.floor((now.getTime() - Date.parse(s.passcode.changedAt)) / 1000));
    lines.push(`  Passcode: set (last changed ${s.passcode.changedAt}, ${describeAge(ageSeconds)} ago; generation ${s.passcode.generation})`);
    if (s.entra) lines.push('    At boot the passcode is refused while Entra ID is configured; full-OS starts may still pass the Passcode variable.');
    if (s.remindAfterSeconds > 0 && ageSeconds > s.remindAfterSeconds) lines.push(`    REMINDER: the passcode is older than ${formatDuration(s.remindAfterSeconds)}; consider changing it (deployr configure security --passcode).`);
  } else lines.push('  Passcode: not set');
  if (s.previousPasscode && Date.parse(s.previousPasscode.validUntil) > now.getTime()) {
    lines.push(`  Previous passcode (generation ${s.previousPasscode.generation}) and its tokens: still accepted until ${s.previousPasscode.validUntil} (rotation overlap running; end it now with deployr configure security --end-overlap)`);
  } else if (s.passcode && s.passcode.generation > 1) {
    lines.push('  Previous passcode and its tokens: no longer accepted');
  }
  lines.push(`  Rotation overlap for the next change: ${s.rotationOverlapSeconds
    ? `${formatDuration(s.rotationOverlapSeconds)} (the passcode it replaces and its tokens keep working that long)`
    : 'off (the passcode it replaces and its tokens stop at once)'}`);
  lines.push(`  Passcode reminder: ${s.remindAfterSeconds ? `after ${formatDuration(s.remindAfterSeconds)}` : 'off'}`);
  return lines;
}

/** `deployr configure show`. */
export async function configureShow(deps: ConfigureDeps): Promise<number> {
  for (const line of showLines(await deps.readSettings(), deps.now?.() ?? new Date())) deps.io.out(line);
  const scoped = deps.scopedPasscodeCounts ? scopedPasscodesLine(await deps.scopedPasscodeCounts()) : null;
  if (scoped) deps.io.out(scoped);
  const alert = await alertLine(deps, await deps.serviceStatus());
  if (alert) deps.io.out(`  ${alert}`);
  return 0;
}

/** `deployr configure check`: is the service running, and has it applied the current settings? Exit 0 only when both. */
export async function configureCheck(deps: ConfigureDeps): Promise<number> {
  const stored = await deps.readSettings();
  const status = await deps.serviceStatus();
  if (status) deps.io.out(`The service is running (pid ${status.pid}, port ${status.port}, since ${status.startedAt}; TLS fingerprint ${status.tlsFingerprint}).`);
  else deps.io.out(`The service is not running (nothing answers on 127.0.0.1:${deps.localPort}). Start it with: deployr serve`);
  const alert = await alertLine(deps, status);
  if (alert) deps.io.out(alert);
  const methods = configuredMethods(stored.settings);
  if (methods.length === 0) deps.io.out('WARNING: no authentication method is configured: clients cannot proceed.');
  const s = stored.settings;
  if (s.passcode && s.remindAfterSeconds > 0 && (deps.now?.() ?? new Date()).getTime() - Date.parse(s.passcode.changedAt) > s.remindAfterSeconds * 1000) {
    deps.io.out(`REMINDER: the passcode is older than ${formatDuration(s.remindAfterSeconds)}; consider changing it (deployr configure security --passcode).`);
  }
  if (!status) return 1;
  if (status.appliedRevision === stored.revision) {
    deps.io.out(`It has applied the current settings (revision ${stored.revision}).`);
    return 0;
  }
  deps.io.out(`It has NOT yet applied the current settings (it has revision ${status.appliedRevision}, the store has ${stored.revision}); wait a few seconds and check again.`);
  return 1;
}

/** The security menu: every setting `configure security` has a flag for. */
export const SECURITY_MENU = [
  { value: 'passcode', label: 'Set the passcode', hint: '--passcode' },
  { value: 'clear-passcode', label: 'Remove the passcode', hint: '--clear-passcode' },
  { value: 'overlap', label: 'Rotation overlap after a passcode change', hint: '--overlap' },
  { value: 'end-overlap', label: 'End the rotation overlap now (the previous passcode and its tokens stop)', hint: '--end-overlap' },
  { value: 'remind-after', label: 'Remind to change the passcode after…', hint: '--remind-after' },
  { value: 'entra', label: 'Use Entra ID (device-code sign-in)', hint: '--entra-tenant, --entra-client-id, --entra-role, --entra-authority' },
  { value: 'clear-entra', label: 'Remove the Entra ID settings', hint: '--clear-entra' },
  { value: 'cert', label: 'Trust client certificates from a CA bundle', hint: '--cert-ca, --cert-subject, --cert-san, --cert-crl, --cert-allow-no-eku' },
  { value: 'clear-cert', label: 'Remove client-certificate trust', hint: '--clear-cert' },
  { value: 'bypass-on', label: 'Turn bypass (anonymous) authentication on — lab only', hint: '--bypass on' },
  { value: 'bypass-off', label: 'Turn bypass authentication off', hint: '--bypass off' },
  { value: 'back', label: 'Back' },
];

/** Asks a line; an empty answer is undefined, an ended input null. */
async function ask(p: Prompter, label: string): Promise<string | undefined> {
  const v = await p.line(label);
  if (v === null) throw new DeployrError('INVALID_INPUT', 'The input ended; nothing changed.');
  return v.trim() === '' ? undefined : v.trim();
}

/** The flags a menu choice stands for, asking for the values its flags take; null for Back. */
async function menuFlags(what: string | null, p: Prompter): Promise<SecurityFlags | null> {
  switch (what) {
    case 'passcode': return { passcode: true };
    case 'clear-passcode': return { clearPasscode: true };
    case 'overlap': return { overlap: (await ask(p, 'Overlap (e.g. 2h; 0 = off):')) ?? '0' };
    case 'end-overlap': return { endOverlap: true };
    case 'remind-after': return { remindAfter: (await ask(p, 'Remind after (e.g. 90d; 0 = off):')) ?? '0' };
    case 'entra': {
      const entraTenant = await ask(p, 'Entra ID tenant id:');
      const entraClientId = await ask(p, 'Application (client) id:');
      const entraRole = await ask(p, 'Role a user needs:');
      const entraAuthority = await ask(p, 'Authority (empty: https://login.microsoftonline.com):');
      return { entraTenant, entraClientId, entraRole, ...(entraAuthority ? { entraAuthority } : {}) } as SecurityFlags;
    }
    case 'clear-entra': return { clearEntra: true };
    case 'cert': {
      const certCa = await ask(p, 'CA bundle file (PEM):');
      if (certCa === undefined) throw new DeployrError('INVALID_INPUT', 'No CA bundle was given; nothing changed.');
      const certSubject = await ask(p, 'Subject pattern (empty: any):');
      const certSan = await ask(p, 'SAN pattern (empty: any):');
      const certCrl = await ask(p, 'CRL file (empty: none):');
      const eku = await p.confirm('Require the clientAuth extended key usage?');
      return { certCa, ...(certSubject ? { certSubject } : {}), ...(certSan ? { certSan } : {}), ...(certCrl ? { certCrl } : {}), ...(eku === false ? { certAllowNoEku: true } : {}) };
    }
    case 'clear-cert': return { clearCert: true };
    case 'bypass-on': return { bypass: 'on' };
    case 'bypass-off': return { bypass: 'off' };
    default: return null;
  }
}

/** `deployr configure` on a terminal: a menu of sections (security first), pending changes shown, saved only when confirmed. */
export async function configureInteractive(deps: ConfigureDeps): Promise<number> {
  const p = deps.prompter;
  if (!p.interactive) throw new DeployrError('INVALID_INPUT', 'The interactive menu needs a terminal; use deployr configure security ... instead.');
  const pending: SecurityChange[] = [];
  for (;;) {
    const section = await p.choose('Configure deployr', [
      { value: 'security', label: 'Security settings', hint: 'passcode, rotation, Entra ID, certificates, bypass' },
      { value: 'show', label: 'Show the current settings' },
      { value: 'review', label: `Review and save pending changes (${pending.length})` },
      { value: 'quit', label: 'Quit without saving' },
    ]);
    if (section === null || section === 'quit') {
      deps.io.out(pending.length ? 'Quit: nothing was saved.' : 'Bye.');
      return 0;
    }
    if (section === 'show') { for (const l of showLines(await deps.readSettings(), new Date())) deps.io.out(l); continue; }
    if (section === 'security') {
      const what = await p.choose('Security settings', SECURITY_MENU);
      try {
        const flags = await menuFlags(what, p);
        if (flags !== null) pending.push(...(await changesFromFlags(flags, p)));
      } catch (err) {
        deps.io.err(`error: ${(err as Error).message}`);
      }
      continue;
    }
    if (pending.length === 0) { deps.io.out('No pending changes.'); continue; }
    deps.io.out('Pending changes:');
    for (const c of pending) deps.io.out(`  - ${sentence(describeChange(c))}`);
    if (await p.confirm('Save these changes?')) {
      try {
        const result = await deps.admin.apply(pending);
        for (const w of result.warnings) deps.io.err(`warning: ${w}`);
        deps.io.out(`Saved (revision ${result.revision}); a running service applies them within a few seconds.`);
        pending.length = 0;
      } catch (err) {
        deps.io.err(`error: ${(err as Error).message}`);
      }
    }
  }
}
