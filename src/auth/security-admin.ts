// Changes to the security settings (the configuration tool's security section), each audited in the same transaction.

import type { AuditEvent } from '../domain/audit.js';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import { checkNewPasscode } from '../domain/passcode-policy.js';
import {
  MICROSOFT_AUTHORITY, type CertificateSettings, type EntraSettings, type SecuritySettings,
} from '../domain/security-settings.js';
import type { AuditStore, SecurityStore } from '../engine/ports.js';
import type { PasscodeHasher } from './passcode-hasher.js';
import { buildClientCertTlsOptions } from './tls-trust.js';

/** One pending change to the security settings. */
export type SecurityChange =
  | { kind: 'passcode'; passcode: string }
  | { kind: 'clear-passcode' }
  | { kind: 'bypass'; enabled: boolean }
  | { kind: 'entra'; entra: Omit<EntraSettings, 'authority'> & { authority?: string } }
  | { kind: 'clear-entra' }
  | { kind: 'certificate'; certificate: CertificateSettings }
  | { kind: 'clear-certificate' }
  | { kind: 'rotation'; overlapSeconds?: number; remindAfterSeconds?: number }
  | { kind: 'end-overlap' };

/** The outcome of saving changes. */
export interface SaveResult {
  revision: number;
  /** False when the changes changed nothing (nothing was saved). */
  changed: boolean;
  settings: SecuritySettings;
  warnings: string[];
}

const GUIDISH = /^[0-9a-zA-Z][0-9a-zA-Z.-]{0,127}$/;
/** An Entra ID tenant or application (client) id. */
const ENTRA_GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** A DNS domain name with at least two labels (a tenant's verified domain, such as contoso.onmicrosoft.com). */
const VERIFIED_DOMAIN = /^(?=.{4,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$/;

function adminEvent(reason: string, detail: Record<string, unknown> = {}): AuditEvent {
  return { kind: 'settings', method: 'security', result: 'changed', reason, subject: 'admin', source: 'local', device: null, detail };
}

/**
 * Ends or shortens a running rotation overlap so that it never lasts longer than `overlapSeconds`
 * from `now`: 0 ends it (the previous passcode and every token issued under it stop); a shorter
 * setting moves its end closer. Returns the audit event, or null when nothing was running or it
 * already ends in time.
 */
function limitOverlap(next: SecuritySettings, overlapSeconds: number, now: Date, by: 'overlap' | 'end-overlap'): AuditEvent | null {
  const previous = next.previousPasscode;
  if (!previous || Date.parse(previous.validUntil) <= now.getTime()) {
    next.previousPasscode = null;
    return null;
  }
  if (overlapSeconds === 0) {
    next.previousPasscode = null;
    return adminEvent('overlap_ended', { generation: previous.generation, wasValidUntil: previous.validUntil, by });
  }
  const until = now.getTime() + overlapSeconds * 1000;
  if (Date.parse(previous.validUntil) <= until) return null;
  next.previousPasscode = { ...previous, validUntil: new Date(until).toISOString() };
  return adminEvent('overlap_shortened', { generation: previous.generation, wasValidUntil: previous.validUntil, validUntil: next.previousPasscode.validUntil });
}

/** Applies security changes for the configuration tool. */
export class SecurityAdmin {
  constructor(private readonly store: SecurityStore & AuditStore, private readonly hasher: PasscodeHasher, private readonly now: () => Date = () => new Date()) {}

  /**
   * Validates every change first, then saves them all at once with their audit rows. A change that
   * fails validation throws before anything is written: nothing changes. When someone else saved
   * meanwhile, nothing is saved, the refused attempt gets its own audit row (result `failure`, reason
   * `conflict`), and CONFLICT is thrown. `actor` is who the audit rows name (default: the local admin).
   */
  async apply(changes: SecurityChange[], actor: { subject: string; source: string | null } = { subject: 'admin', source: 'local' }): Promise<SaveResult> {
    if (changes.length === 0) throw new DeployrError('INVALID_INPUT', 'Nothing to change.');
    const { settings: current, revision } = await this.store.getSecurity();
    const next: SecuritySettings = structuredClone(current);
    const events: AuditEvent[] = [];
    const warnings: string[] = [];
    const now = this.now();
    for (const change of changes) {
      switch (change.kind) {
        case 'passcode': {
          const checked = checkNewPasscode(change.passcode);
          warnings.push(...checked.warnings);
          const hash = await this.hasher.hash(checked.normalized);
          const previous = next.passcode;
          next.previousPasscode = previous && next.rotationOverlapSeconds > 0
            ? { ...previous, validUntil: new Date(now.getTime() + next.rotationOverlapSeconds * 1000).toISOString() }
            : null;
          const generation = Math.max(previous?.generation ?? 0, current.previousPasscode?.generation ?? 0, next.lastPasscodeGeneration ?? 0) + 1;
          next.lastPasscodeGeneration = generation;
          next.passcode = { hash, generation, changedAt: now.toISOString() };
          events.push(adminEvent(previous ? 'passcode_changed' : 'passcode_set', { generation, overlapSeconds: next.previousPasscode ? next.rotationOverlapSeconds : 0 }));
          break;
        }
        case 'clear-passcode':
          if (next.passcode) {
            events.push(adminEvent('passcode_cleared', { generation: next.passcode.generation }));
            next.lastPasscodeGeneration = Math.max(next.lastPasscodeGeneration ?? 0, next.passcode.generation);
          }
          next.passcode = null;
          next.previousPasscode = null;
          break;
        case 'bypass':
          next.bypass = change.enabled;
          events.push(adminEvent(change.enabled ? 'bypass_on' : 'bypass_off'));
          if (change.enabled) warnings.push('Bypass authentication is ON: anyone who reaches this server can run any task sequence. Use it only on an isolated lab network.');
          break;
        case 'entra': {
          const { tenantId, clientId, role } = change.entra;
          // Described, never quoted: a secret pasted into the wrong flag must not be printed back.
          if (!ENTRA_GUID.test(tenantId ?? '') && !VERIFIED_DOMAIN.test(tenantId ?? '')) {
            throw new DeployrError('INVALID_INPUT', 'The Entra ID tenant must be the tenant id (a GUID, 8-4-4-4-12 hexadecimal digits) or a verified domain name of the tenant (contoso.onmicrosoft.com).');
          }
          if (!ENTRA_GUID.test(clientId ?? '')) {
            throw new DeployrError('INVALID_INPUT', 'The Entra ID client id must be the application (client) id of the app registration: a GUID, 8-4-4-4-12 hexadecimal digits.');
          }
          if (!role || !GUIDISH.test(role)) {
            throw new DeployrError('INVALID_INPUT', 'The Entra ID role must be an app role value: letters, digits, "." and "-", at most 128 characters.');
          }
          const authority = (change.entra.authority ?? MICROSOFT_AUTHORITY).replace(/\/+$/, '');
          let url: URL;
          try { url = new URL(authority); } catch { throw new DeployrError('INVALID_INPUT', 'The Entra ID authority is not a URL (https://login.microsoftonline.com by default).'); }
          if (url.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
            throw new DeployrError('INVALID_INPUT', 'The Entra ID authority must use https (plain http only on loopback, for tests).');
          }
          next.entra = { tenantId, clientId, role, authority };
          events.push(adminEvent('entra_set', { tenantId, clientId, role, authority }));
          break;
        }
        case 'clear-entra':
          if (next.entra) events.push(adminEvent('entra_cleared'));
          next.entra = null;
          break;
        case 'certificate':
          if (change.certificate.crlPath !== undefined && !change.certificate.crlPath.startsWith('/')) {
            throw new DeployrError('INVALID_INPUT', 'The CRL file must be an absolute path on the server; nothing changed.');
          }
          // Checked the way the service loads them (every certificate a CA, the CRL file readable and parsable).
          try { buildClientCertTlsOptions(change.certificate); } catch (err) {
            if (err instanceof DeployrError) throw new DeployrError(err.code, `${err.message} Nothing changed.`, { ...err.details });
            throw err;
          }
          next.certificate = change.certificate;
          events.push(adminEvent('certificate_trust_set', { subjectPattern: change.certificate.subjectPattern ?? null, sanPattern: change.certificate.sanPattern ?? null, crlPath: change.certificate.crlPath ?? null }));
          break;
        case 'clear-certificate':
          if (next.certificate) events.push(adminEvent('certificate_trust_cleared'));
          next.certificate = null;
          break;
        case 'rotation': {
          if (change.overlapSeconds !== undefined) next.rotationOverlapSeconds = change.overlapSeconds;
          if (change.remindAfterSeconds !== undefined) next.remindAfterSeconds = change.remindAfterSeconds;
          events.push(adminEvent('rotation_policy_set', { overlapSeconds: next.rotationOverlapSeconds, remindAfterSeconds: next.remindAfterSeconds }));
          // A running overlap follows the new setting at once: 0 ends it, a shorter one shortens it.
          const limited = change.overlapSeconds === undefined ? null : limitOverlap(next, change.overlapSeconds, now, 'overlap');
          if (limited) events.push(limited);
          break;
        }
        case 'end-overlap': {
          const ended = limitOverlap(next, 0, now, 'end-overlap');
          if (ended) events.push(ended);
          else warnings.push('No rotation overlap is running: no previous passcode is accepted.');
          break;
        }
      }
    }
    if (events.length === 0) return { revision, settings: current, changed: false, warnings: [...warnings, 'Nothing changed.'] };
    // The console saves as the signed-in administrator (the configuration tool as the local admin).
    for (const e of events) { e.subject = actor.subject; e.source = actor.source; }
    let saved: number;
    try {
      saved = await this.store.saveSecurity(next, revision, events);
    } catch (err) {
      if (isDeployrError(err, 'CONFLICT')) {
        // The save rolled back with its audit rows; record the refused attempt on its own.
        await this.store.append({
          kind: 'settings', method: 'security', result: 'failure', reason: 'conflict', subject: actor.subject, source: actor.source, device: null,
          detail: { attempted: events.map((e) => e.reason), expectedRevision: revision },
        });
      }
      throw err;
    }
    return { revision: saved, settings: next, changed: true, warnings };
  }
}
