// The login orchestrator: applies DeployR's order and precedence, throttles guessing, audits every attempt, issues tokens.

import { createHmac } from 'node:crypto';
import type { AuditEvent } from '../domain/audit.js';
import { DeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import {
  configuredMethods, passcodeAllowed, validPasscodeGenerations,
  type AuthContext, type AuthMethod, type SecuritySettings,
} from '../domain/security-settings.js';
import { DEFAULT_THROTTLE_POLICY, retryAfterSeconds, type ThrottlePolicy } from '../domain/throttle.js';
import type { AuditStore, LoginStore } from '../engine/ports.js';
import type { PasscodeHasher } from './passcode-hasher.js';
import type { SecurityState } from './security-state.js';
import type { TokenService, VerifiedToken } from './token-service.js';

/** Where a login attempt comes from. */
export interface LoginSource {
  /** The peer address. */
  address: string;
  /** The device id the client sent, when any. */
  deviceId: string | null;
}

/** An issued token. */
export interface IssuedToken {
  token: string;
  expiresAt: string;
}

/** What the client needs to know about one configured method (never a secret). */
export type MethodDescription =
  | { method: 'anonymous' }
  | { method: 'certificate' }
  | { method: 'entra'; authority: string; tenantId: string; clientId: string; scope: string }
  | { method: 'passcode'; contexts: AuthContext[] };

/** The answer to "how do I sign in here?". */
export interface MethodsDescription {
  methods: MethodDescription[];
  /** False when nothing is configured: no token is issued to anyone. */
  configured: boolean;
}

/** The generic failure every refused login gets, whatever the reason. */
export function authFailed(): DeployrError {
  return new DeployrError('AUTH_FAILED', 'Authentication failed.');
}

/** The dependencies of the login service. */
export interface LoginServiceDeps {
  store: LoginStore & AuditStore;
  security: SecurityState;
  hasher: PasscodeHasher;
  tokens: TokenService;
  /** Keys the short digests of wrong values kept by the throttle. */
  digestKey: Buffer;
  policy?: ThrottlePolicy;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onAlert?: (consecutiveFailures: number) => void;
}

/** Logins and token checks. */
export class LoginService {
  private readonly policy: ThrottlePolicy;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: LoginServiceDeps) {
    this.policy = deps.policy ?? DEFAULT_THROTTLE_POLICY;
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private get settings(): SecuritySettings {
    return this.deps.security.settings.settings;
  }

  /** The configured methods in the client's order, with what the client needs for each. */
  describeMethods(): MethodsDescription {
    const s = this.settings;
    const methods = configuredMethods(s).map((m): MethodDescription => {
      switch (m) {
        case 'anonymous': return { method: 'anonymous' };
        case 'certificate': return { method: 'certificate' };
        case 'entra': {
          const e = s.entra!;
          return { method: 'entra', authority: e.authority, tenantId: e.tenantId, clientId: e.clientId, scope: `api://${e.clientId}/.default` };
        }
        case 'passcode': return { method: 'passcode', contexts: s.entra ? ['fullos'] : ['boot', 'fullos'] };
      }
    });
    return { methods, configured: methods.length > 0 };
  }

  /**
   * Passcode login. Refused with the same AUTH_FAILED for every reason (wrong passcode, none set,
   * superseded by Entra ID at boot, missing task sequence for a limited full-OS start); AUTH_THROTTLED
   * (with `retryAfterSeconds`) while the source must wait, whether or not the passcode is right.
   */
  async loginWithPasscode(input: { passcode: string; context: AuthContext; taskSequence: string | null; source: LoginSource }): Promise<IssuedToken> {
    const keys = throttleKeys(input.source);
    const { records, global } = await this.deps.store.throttleState(keys);
    const now = this.now();
    const wait = Math.max(...[...records.values()].map((r) => retryAfterSeconds(r, now)));
    const base = { method: 'passcode', subject: 'passcode', source: input.source.address, device: input.source.deviceId };
    if (wait > 0) {
      await this.deps.store.append({ kind: 'login', ...base, result: 'failure', reason: 'throttled', detail: { context: input.context, retryAfterSeconds: wait } });
      throw new DeployrError('AUTH_THROTTLED', 'Too many failed attempts; wait before trying again.', { retryAfterSeconds: wait });
    }
    if (global.alertSince > 0) await this.sleep(this.policy.globalSlowdownMs);

    const s = this.settings;
    // Entra ID on: a full-OS passcode start is limited to the task sequence it names.
    const limit = s.entra && input.context === 'fullos' ? input.taskSequence : null;
    let reason: string | null = null;
    let generation = 0;
    if (!s.passcode) reason = 'not_configured';
    else if (!passcodeAllowed(s, input.context)) reason = 'superseded_by_entra';
    else if (s.entra && input.context === 'fullos' && !input.taskSequence) reason = 'task_sequence_required';

    if (reason === null && s.passcode) {
      if (await this.deps.hasher.verify(s.passcode.hash, input.passcode)) generation = s.passcode.generation;
      else if (s.previousPasscode && Date.parse(s.previousPasscode.validUntil) > now && await this.deps.hasher.verify(s.previousPasscode.hash, input.passcode)) {
        generation = s.previousPasscode.generation;
      } else reason = 'wrong_passcode';
    } else {
      // Spend the same work, so the answer's timing does not tell the reason.
      await this.deps.hasher.verifyDummy(input.passcode);
    }

    if (reason !== null) {
      const digest = createHmac('sha256', this.deps.digestKey).update(input.passcode).digest('hex').slice(0, 4);
      const { alertRaised, global: g } = await this.deps.store.recordFailure({
        keys, digest, now, policy: this.policy,
        event: { kind: 'login', ...base, result: 'failure', reason, detail: { context: input.context } },
      });
      if (alertRaised) this.deps.onAlert?.(g.consecutiveFailures);
      throw authFailed();
    }
    const issued = await this.deps.tokens.issue({
      method: 'passcode', subject: 'passcode', context: input.context, passcodeGeneration: generation,
      ...(limit ? { taskSequenceLimit: limit } : {}),
    });
    await this.deps.store.recordSuccess({
      keys,
      event: { kind: 'login', ...base, result: 'success', reason: 'ok', detail: { context: input.context, generation, tokenId: issued.tokenId, ...(limit ? { taskSequence: limit } : {}) } },
    });
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** Anonymous login: only while bypass is on; still a token and an audit row. */
  async loginAnonymous(input: { context: AuthContext; source: LoginSource }): Promise<IssuedToken> {
    const event = (result: string, reason: string, detail: Record<string, unknown> = {}): AuditEvent => ({
      kind: 'login', method: 'anonymous', subject: 'anonymous', source: input.source.address, device: input.source.deviceId, result, reason, detail: { context: input.context, ...detail },
    });
    if (!this.settings.bypass) {
      await this.deps.store.append(event('failure', 'bypass_off'));
      throw authFailed();
    }
    const issued = await this.deps.tokens.issue({ method: 'anonymous', subject: 'anonymous', context: input.context });
    await this.deps.store.append(event('success', 'ok', { tokenId: issued.tokenId }));
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** Issues a token for a method verified elsewhere (certificate, Entra ID), and audits it. */
  async issueVerified(input: { method: AuthMethod; subject: string; context: AuthContext; source: LoginSource; certificateThumbprint?: string; detail?: Record<string, unknown> }): Promise<IssuedToken> {
    const issued = await this.deps.tokens.issue({
      method: input.method, subject: input.subject, context: input.context,
      ...(input.certificateThumbprint ? { certificateThumbprint: input.certificateThumbprint } : {}),
    });
    await this.deps.store.append({
      kind: 'login', method: input.method, subject: input.subject, source: input.source.address, device: input.source.deviceId,
      result: 'success', reason: 'ok', detail: { context: input.context, tokenId: issued.tokenId, ...input.detail },
    });
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** Audits a refused login of a method verified elsewhere and returns the generic failure to throw. */
  async refuse(input: { method: AuthMethod; subject: string; reason: string; context: AuthContext; source: LoginSource }): Promise<DeployrError> {
    await this.deps.store.append({
      kind: 'login', method: input.method, subject: input.subject, source: input.source.address, device: input.source.deviceId,
      result: 'failure', reason: input.reason, detail: { context: input.context },
    });
    return authFailed();
  }

  /**
   * Checks a bearer token against the settings in force now: a token whose method was turned off,
   * or whose passcode generation is no longer valid, is refused at once; a certificate-bound token
   * only works on a connection presenting that certificate.
   */
  async authenticate(token: string, connectionThumbprint: string | null): Promise<Principal> {
    const v: VerifiedToken = await this.deps.tokens.verify(token);
    const s = this.settings;
    const invalid = (): DeployrError => new DeployrError('TOKEN_INVALID', 'The token is missing, expired or not valid; sign in again.');
    switch (v.method) {
      case 'anonymous': if (!s.bypass) throw invalid(); break;
      case 'entra': if (!s.entra) throw invalid(); break;
      case 'certificate':
        if (!s.certificate || !v.certificateThumbprint || v.certificateThumbprint !== connectionThumbprint) throw invalid();
        break;
      case 'passcode':
        if (v.passcodeGeneration === undefined || !validPasscodeGenerations(s, new Date(this.now())).includes(v.passcodeGeneration)) throw invalid();
        if (v.context === 'boot' && s.entra) throw invalid();
        break;
    }
    return {
      method: v.method, subject: v.subject, context: v.context, taskSequenceLimit: v.taskSequenceLimit ?? null,
      certificateThumbprint: v.certificateThumbprint ?? null, tokenId: v.tokenId, expiresAt: v.expiresAt,
    };
  }
}

/** The throttle keys of a source: its address, and its device id when sent. */
function throttleKeys(source: LoginSource): string[] {
  return source.deviceId ? [`ip:${source.address}`, `device:${source.deviceId}`] : [`ip:${source.address}`];
}
