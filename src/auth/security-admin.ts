// Changes to the security settings (the configuration tool's security section), each audited in the same transaction.

import type { AuditEvent } from '../domain/audit.js';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import { checkNewPasscode } from '../domain/passcode-policy.js';
import {
  MICROSOFT_AUTHORITY, type CertificateSettings, type EntraSettings, type SecuritySettings,
} from '../domain/security-settings.js';
import type { AuditStore, SecurityStore } from '../engine/ports.js';
import type { PasscodeHasher } from './passcode-hasher.js';

/** One pending change to the security settings. */
export type SecurityChange =
  | { kind: 'passcode'; passcode: string }
  | { kind: 'clear-passcode' }
  | { kind: 'bypass'; enabled: boolean }
  | { kind: 'entra'; entra: Omit<EntraSettings, 'authority'> & { authority?: string } }
  | { kind: 'clear-entra' }
  | { kind: 'certificate'; certificate: CertificateSettings }
  | { kind: 'clear-certificate' }
  | { kind: 'rotation'; overlapSeconds?: number; remindAfterSeconds?: number };

/** The outcome of saving changes. */
export interface SaveResult {
  revision: number;
  settings: SecuritySettings;
  warnings: string[];
}

const GUIDISH = /^[0-9a-zA-Z][0-9a-zA-Z.-]{0,127}$/;

function adminEvent(reason: string, detail: Record<string, unknown> = {}): AuditEvent {
  return { kind: 'settings', method: 'security', result: 'changed', reason, subject: 'admin', source: 'local', device: null, detail };
}

/** Applies security changes for the configuration tool. */
export class SecurityAdmin {
  constructor(private readonly store: SecurityStore & AuditStore, private readonly hasher: PasscodeHasher, private readonly now: () => Date = () => new Date()) {}

  /**
   * Validates every change first, then saves them all at once with their audit rows. A change that
   * fails validation throws before anything is written: nothing changes. When someone else saved
   * meanwhile, nothing is saved, the refused attempt gets its own audit row (result `failure`, reason
   * `conflict`), and CONFLICT is thrown.
   */
  async apply(changes: SecurityChange[]): Promise<SaveResult> {
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
          const generation = Math.max(previous?.generation ?? 0, current.previousPasscode?.generation ?? 0) + 1;
          next.passcode = { hash, generation, changedAt: now.toISOString() };
          events.push(adminEvent(previous ? 'passcode_changed' : 'passcode_set', { generation, overlapSeconds: next.previousPasscode ? next.rotationOverlapSeconds : 0 }));
          break;
        }
        case 'clear-passcode':
          if (next.passcode) events.push(adminEvent('passcode_cleared', { generation: next.passcode.generation }));
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
          for (const [name, value] of [['tenant', tenantId], ['client id', clientId], ['role', role]] as const) {
            if (!value || !GUIDISH.test(value)) throw new DeployrError('INVALID_INPUT', `The Entra ID ${name} "${value}" is not valid.`);
          }
          const authority = (change.entra.authority ?? MICROSOFT_AUTHORITY).replace(/\/+$/, '');
          let url: URL;
          try { url = new URL(authority); } catch { throw new DeployrError('INVALID_INPUT', `The Entra ID authority "${authority}" is not a URL.`); }
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
          next.certificate = change.certificate;
          events.push(adminEvent('certificate_trust_set', { subjectPattern: change.certificate.subjectPattern ?? null, sanPattern: change.certificate.sanPattern ?? null, crlPath: change.certificate.crlPath ?? null }));
          break;
        case 'clear-certificate':
          if (next.certificate) events.push(adminEvent('certificate_trust_cleared'));
          next.certificate = null;
          break;
        case 'rotation':
          if (change.overlapSeconds !== undefined) next.rotationOverlapSeconds = change.overlapSeconds;
          if (change.remindAfterSeconds !== undefined) next.remindAfterSeconds = change.remindAfterSeconds;
          events.push(adminEvent('rotation_policy_set', { overlapSeconds: next.rotationOverlapSeconds, remindAfterSeconds: next.remindAfterSeconds }));
          break;
      }
    }
    if (events.length === 0) return { revision, settings: current, warnings: ['Nothing changed.'] };
    let saved: number;
    try {
      saved = await this.store.saveSecurity(next, revision, events);
    } catch (err) {
      if (isDeployrError(err, 'CONFLICT')) {
        // The save rolled back with its audit rows; record the refused attempt on its own.
        await this.store.append({
          kind: 'settings', method: 'security', result: 'failure', reason: 'conflict', subject: 'admin', source: 'local', device: null,
          detail: { attempted: events.map((e) => e.reason), expectedRevision: revision },
        });
      }
      throw err;
    }
    return { revision: saved, settings: next, warnings };
  }
}
