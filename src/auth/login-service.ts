// The login orchestrator: applies DeployR's order and precedence, throttles guessing, audits every attempt, issues tokens.

import { createHmac } from 'node:crypto';
import type { AuditEvent } from '../domain/audit.js';
import { DeployrError, isDeployrError } from '../domain/errors.js';
import type { Principal } from '../domain/principal.js';
import {
  configuredMethods, validPasscodeGenerations,
  type AuthContext, type AuthMethod, type SecuritySettings,
} from '../domain/security-settings.js';
import { normalizePasscode } from '../domain/passcode-policy.js';
import { cidrContains, parseCidr, type Cidr } from '../domain/cidr.js';
import {
  canonicalGenerated, generatedPublicId, MAX_ACTIVE_TYPED_SCOPED_PASSCODES, scopedPasscodeLive, type StoredScopedPasscode,
} from '../domain/scoped-passcode.js';
import { formatLimit, limitEntries } from '../domain/task-sequence-limit.js';
import {
  DEFAULT_THROTTLE_POLICY, policyForKey, retryAfterSeconds, throttleKeys, type GlobalThrottleRecord, type ThrottlePolicy,
} from '../domain/throttle.js';
import type { AuditStore, LoginStore, ScopedPasscodeStore } from '../engine/ports.js';
import { evaluatePeerCertificate, parseCaBundle, type PeerCertificateInput } from './certificate-rules.js';
import type { PasscodeHasher, VerifyOptions } from './passcode-hasher.js';
import type { SecurityState } from './security-state.js';
import { VerifiedPasscodeCache } from './verified-passcode-cache.js';
import { LocalCheckGate, type CheckGate } from './check-gate.js';
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
  | { method: 'certificate'; issuers: string[] }
  | { method: 'entra'; authority: string; tenantId: string; clientId: string; scope: string }
  | { method: 'passcode'; contexts: AuthContext[] };

/** The answer to "how do I sign in here?". */
export interface MethodsDescription {
  methods: MethodDescription[];
  /** False when nothing is configured: no token is issued to anyone. */
  configured: boolean;
}

/** At most this many throttled sources are remembered for quieter auditing (oldest forgotten first). */
const MAX_QUIET_SOURCES = 10_000;
/** How long the answer to a throttled source is held at most (it must wait longer anyway). */
const THROTTLED_HOLD_MS = 1000;
/** At most this many throttled answers are held at once; beyond that they go out at once. */
const MAX_HELD_REFUSALS = 1000;
/** At most this many verified tokens are remembered. */
const MAX_VERIFIED_TOKENS = 10_000;

/** The generic failure every refused login gets, whatever the reason. */
export function authFailed(): DeployrError {
  return new DeployrError('AUTH_FAILED', 'Authentication failed.');
}

/** The dependencies of the login service. */
export interface LoginServiceDeps {
  store: LoginStore & AuditStore & Pick<ScopedPasscodeStore, 'recordScopedPasscodeLogin'>;
  security: SecurityState;
  hasher: PasscodeHasher;
  tokens: TokenService;
  /** Keys the short digests of wrong values kept by the throttle. */
  digestKey: Buffer;
  policy?: ThrottlePolicy;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onAlert?: (consecutiveFailures: number) => void;
  /** Where checks in flight are counted (default: this process; with `serve --workers`, the primary for all workers). */
  gate?: CheckGate;
  /**
   * Whether a task sequence (lower-case id) exists. A passcode login whose token would be limited to
   * a task sequence that does not exist is refused (reason `unknown_task_sequence`, the same 401).
   * Without it, no such check is made.
   */
  taskSequenceExists?: (id: string) => Promise<boolean>;
}

/** Logins and token checks. */
export class LoginService {
  private readonly policy: ThrottlePolicy;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly verified: VerifiedPasscodeCache;
  /** Sources refused while throttled whose further refusals are counted rather than written, until `until`. */
  private readonly quietThrottled = new Map<string, { until: number; count: number }>();
  /** The checks running right now, per throttle counter (this process's, or all workers' through the primary). */
  private readonly gate: CheckGate;
  /** Throttled answers being held right now (see `refuseThrottled`). */
  private heldRefusals = 0;
  /** Tokens whose signature verified, by their exact text (bounded; oldest forgotten first). */
  private readonly verifiedTokens = new Map<string, VerifiedToken>();
  /** Parsed source ranges of scoped passcodes (by their canonical text; bounded). */
  private readonly cidrs = new Map<string, Cidr>();
  /** The principal of each remembered token (the same frozen object on every request). */
  private readonly principals = new WeakMap<VerifiedToken, Principal>();

  constructor(private readonly deps: LoginServiceDeps) {
    this.verified = new VerifiedPasscodeCache(deps.hasher);
    this.gate = deps.gate ?? new LocalCheckGate();
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
        case 'certificate': return { method: 'certificate', issuers: caSubjects(s.certificate!.caPem) };
        case 'entra': {
          const e = s.entra!;
          return { method: 'entra', authority: e.authority, tenantId: e.tenantId, clientId: e.clientId, scope: `api://${e.clientId}/.default` };
        }
        case 'passcode': return { method: 'passcode', contexts: s.entra ? ['fullos'] : ['boot', 'fullos'] };
      }
    });
    // Scoped passcodes alone (no global passcode) turn the passcode method on too.
    if (!s.passcode && this.liveScoped(this.now()).length > 0) methods.push({ method: 'passcode', contexts: s.entra ? ['fullos'] : ['boot', 'fullos'] });
    return { methods, configured: methods.length > 0 };
  }

  /** A source range, parsed once. */
  private cidr(text: string): Cidr {
    let range = this.cidrs.get(text);
    if (!range) {
      range = parseCidr(text);
      if (this.cidrs.size >= 1024) this.cidrs.clear();
      this.cidrs.set(text, range);
    }
    return range;
  }

  /** The scoped passcodes whose tokens are valid now (not revoked, not expired). */
  private liveScoped(now: number): StoredScopedPasscode[] {
    return this.deps.security.scopedPasscodes.filter((p) => scopedPasscodeLive(p, now));
  }

  /**
   * Passcode login. Refused with the same AUTH_FAILED for every reason (wrong passcode, none set,
   * superseded by Entra ID at boot, missing task sequence for a limited full-OS start); AUTH_THROTTLED
   * (with `retryAfterSeconds`) while the source must wait, whether or not the passcode is right, and
   * when too many checks already queue for argon2. UNAVAILABLE, and no token, when the audit row
   * cannot be written.
   */
  async loginWithPasscode(input: { passcode: string; context: AuthContext; taskSequence: string | null; source: LoginSource }): Promise<IssuedToken> {
    const keys = throttleKeys(input.source);
    const { records, global } = await this.deps.store.throttleState(keys);
    const now = this.now();
    // The counter that makes the source wait longest is the one its refusals are audited under.
    let wait = 0;
    let blockingKey = keys[0] as string;
    for (const [key, record] of records) {
      const w = retryAfterSeconds(record, now);
      if (w > wait) { wait = w; blockingKey = key; }
    }
    const base = { kind: 'login' as const, method: 'passcode', subject: 'passcode', source: input.source.address, device: input.source.deviceId };
    if (wait > 0) return this.refuseThrottled(blockingKey, keys, base, input.context, 'throttled', wait, now);
    // Checks already running count against the budget too: otherwise many guesses sent at once would
    // all pass the counters before the first failure is written. A counter with `f` failures of its
    // `free` lets max(1, free - f) different values be checked at once (the same value sent many
    // times, a boot storm's passcode, is one value).
    const digest = createHmac('sha256', this.deps.digestKey).update(normalizePasscode(input.passcode)).digest('hex');
    const allowances = keys.map((key) => Math.max(1, policyForKey(key, this.policy).freeFailures - (records.get(key)?.failures ?? 0)));
    const full = await this.gate.enter(keys, digest, allowances);
    if (full !== null) return this.refuseThrottled(full, keys, base, input.context, 'throttled', 1, now);
    try {
      return await this.checkPasscode(input, keys, base, global, digest, now);
    } finally {
      this.gate.leave(keys, digest);
    }
  }

  /** The passcode check proper, once the source may try: verify, then count the failure or issue the token, audited. */
  private async checkPasscode(
    input: { passcode: string; context: AuthContext; taskSequence: string | null; source: LoginSource },
    keys: string[], base: Omit<AuditEvent, 'result' | 'reason' | 'detail'>, global: GlobalThrottleRecord, digest: string, now: number,
  ): Promise<IssuedToken> {
    // The global slowdown: every passcode check waits, and argon2 turns are held longer (fewer guesses per second).
    const slow = global.alertSince > 0 && this.policy.globalSlowdownMs > 0;
    if (slow) await this.sleep(this.policy.globalSlowdownMs);
    // Each source waits for argon2 in its own lane: a guessing source cannot put a technician behind all of its checks.
    const verifyOptions: VerifyOptions = { lane: input.source.address, ...(slow ? { hold: () => this.sleep(this.policy.globalSlowdownMs) } : {}) };
    await this.deps.security.refresh();

    const s = this.settings;
    // Entra ID on: a full-OS passcode start is limited to the task sequence it names.
    const limit = s.entra && input.context === 'fullos' ? input.taskSequence : null;
    const live = this.liveScoped(now);
    let reason: string | null = null;
    let generation: number | null = null;
    let scoped: StoredScopedPasscode | null = null;
    if (!s.passcode && live.length === 0) reason = 'not_configured';
    else if (input.context === 'boot' && s.entra) reason = 'superseded_by_entra';
    else if (s.entra && input.context === 'fullos' && !input.taskSequence) reason = 'task_sequence_required';

    try {
      if (reason === null) {
        ({ generation, scoped } = await this.matchPasscode(input.passcode, s, live, now, verifyOptions));
        if (generation === null && scoped === null) reason = 'wrong_passcode';
      } else {
        if (!s.passcode && live.length === 0) this.verified.clear();
        // Spend the same work, so the answer's timing does not tell the reason.
        await this.deps.hasher.verifyDummy(input.passcode, verifyOptions);
      }
    } catch (err) {
      if (isDeployrError(err, 'AUTH_THROTTLED')) return this.refuseThrottled(`ip:${input.source.address}`, keys, base, input.context, 'busy', 1, now);
      throw err;
    }

    // A scoped passcode's own limits, checked only once it matched (the same answer as any failure).
    let tokenLimit = limit;
    let scopeDetail: Record<string, unknown> = {};
    if (reason === null && scoped !== null) {
      scopeDetail = { scopedPasscode: scoped.name };
      const scope = scoped.scope;
      const named = input.taskSequence ? limitEntries(input.taskSequence)[0]?.id ?? null : null;
      if (scope.context !== null && scope.context !== input.context) reason = 'scope_context';
      else if (scope.sources.length > 0 && !scope.sources.some((c) => cidrContains(this.cidr(c), input.source.address))) reason = 'scope_source';
      else if (scope.taskSequences.length > 0) {
        const entries = limitEntries(scope.taskSequences.join(','));
        // A start that names a task sequence gets a token for that one alone (when the scope has it).
        const chosen = named === null ? entries : entries.filter((e) => e.id === named);
        if (chosen.length === 0) reason = 'scope_task_sequence';
        else tokenLimit = formatLimit(chosen);
      }
    }
    // Only after the right passcode, and with the same answer as any failure: nobody learns which ids exist.
    // (A scope's own task sequences were checked when it was made.)
    if (reason === null && limit && tokenLimit === limit && this.deps.taskSequenceExists) {
      if (!(await this.deps.taskSequenceExists(limitEntries(limit)[0]?.id ?? ''))) reason = 'unknown_task_sequence';
    }

    const notLogged = this.takeNotLogged(keys);
    const fail = async (why: string): Promise<never> => {
      // The failure is timed when it is written, not when the attempt arrived: a check that waited in
      // the argon2 queue must not have used up its source's delay before the 401 is even sent.
      const { alertRaised, global: g } = await this.audited(() => this.deps.store.recordFailure({
        keys, digest: digest.slice(0, 8), now: this.now(), policy: this.policy,
        event: { ...base, result: 'failure', reason: why, detail: { context: input.context, ...scopeDetail, ...notLogged } },
      }));
      if (alertRaised) this.deps.onAlert?.(g.consecutiveFailures);
      throw authFailed();
    };
    if (reason !== null) return fail(reason);
    if (scoped !== null) {
      const p = scoped;
      const subject = `passcode:${p.name}`;
      const issued = await this.deps.tokens.issue({
        method: 'passcode', subject, context: input.context, scopedPasscodeId: p.id,
        ...(tokenLimit ? { taskSequenceLimit: tokenLimit } : {}),
      }, p.expiresAt !== null ? { notAfter: Math.floor(Date.parse(p.expiresAt) / 1000) } : {});
      // One use taken, the counters reset and the audit row written in one transaction; no use left (or
      // revoked, or expired meanwhile): nothing taken, and the login fails like any other.
      const taken = await this.audited(() => this.deps.store.recordScopedPasscodeLogin({
        id: p.id, at: new Date(now).toISOString(), keys,
        event: { ...base, subject, result: 'success', reason: 'ok', detail: { context: input.context, scopedPasscode: p.name, tokenId: issued.tokenId, ...(tokenLimit ? { taskSequence: tokenLimit } : {}), ...notLogged } },
      }));
      if (!taken) return fail('scope_used_up');
      return { token: issued.token, expiresAt: issued.expiresAt };
    }
    const issued = await this.deps.tokens.issue({
      method: 'passcode', subject: 'passcode', context: input.context, passcodeGeneration: generation as number,
      ...(limit ? { taskSequenceLimit: limit } : {}),
    });
    // The token is handed out only after its audit row (and the counters' reset) is committed.
    await this.audited(() => this.deps.store.recordSuccess({
      keys,
      event: { ...base, result: 'success', reason: 'ok', detail: { context: input.context, generation, tokenId: issued.tokenId, ...(limit ? { taskSequence: limit } : {}), ...notLogged } },
    }));
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /**
   * Checks a candidate against every passcode that may sign in now, in work that depends on the
   * configuration only, never on which one matches (docs/security.md, "Scoped passcodes"): the global
   * passcode (and the previous one inside a rotation overlap), each live typed scoped passcode (at
   * most MAX_ACTIVE_TYPED_SCOPED_PASSCODES, oldest first), and, while any generated one is live, one
   * more check: the generated passcode the candidate's first group names, or a dummy. No early exit.
   * A candidate argon2 already accepted (VerifiedPasscodeCache) skips argon2 altogether: only a right
   * passcode can be in that cache, and its answer is a success. A scoped match wins over the global
   * passcode (the narrower one).
   */
  private async matchPasscode(candidate: string, s: SecuritySettings, live: readonly StoredScopedPasscode[], now: number, verifyOptions: VerifyOptions): Promise<{ generation: number | null; scoped: StoredScopedPasscode | null }> {
    const global: { hash: string; generation: number }[] = [];
    if (s.passcode) global.push({ hash: s.passcode.hash, generation: s.passcode.generation });
    if (s.passcode && s.previousPasscode && Date.parse(s.previousPasscode.validUntil) > now) global.push({ hash: s.previousPasscode.hash, generation: s.previousPasscode.generation });
    const typed = live.filter((p) => p.publicId === null).slice(0, MAX_ACTIVE_TYPED_SCOPED_PASSCODES);
    const generatedLive = live.filter((p) => p.publicId !== null);
    const canonical = generatedLive.length > 0 ? canonicalGenerated(candidate) : null;
    const selected = canonical === null ? null : generatedLive.find((p) => p.publicId === generatedPublicId(canonical)) ?? null;
    this.verified.retain([...global.map((g) => g.hash), ...live.map((p) => p.hash)]);

    // Every check is made; the results are looked at afterwards.
    const checks: { hash: string; value: string }[] = [
      ...global.map((g) => ({ hash: g.hash, value: candidate })),
      ...typed.map((p) => ({ hash: p.hash, value: candidate })),
      ...(selected !== null && canonical !== null ? [{ hash: selected.hash, value: canonical }] : []),
    ];
    const known = checks.map((c) => this.verified.known(c.hash, c.value));
    let results: boolean[];
    if (known.some(Boolean)) {
      results = known;
    } else {
      results = [];
      for (const c of checks) results.push(await this.verified.verify(c.hash, c.value, verifyOptions));
      if (generatedLive.length > 0 && selected === null) await this.deps.hasher.verifyDummy(candidate, verifyOptions);
    }
    const globalMatch = global.findIndex((_, i) => results[i] === true);
    const typedMatch = typed.findIndex((_, i) => results[global.length + i] === true);
    const generatedMatch = selected !== null && results[global.length + typed.length] === true;
    return {
      generation: globalMatch >= 0 ? (global[globalMatch] as { generation: number }).generation : null,
      scoped: generatedMatch ? selected : typedMatch >= 0 ? (typed[typedMatch] as StoredScopedPasscode) : null,
    };
  }

  /**
   * Refuses a throttled (or, `busy`, an over-queued) attempt with AUTH_THROTTLED. One audit row per
   * blocking counter (a source, or a whole address) per waiting period: the attempts refused in
   * between are counted in memory and reported on the next row written for that source or address
   * (`throttledNotLogged`), so a flood of refused requests, even with a new device id on each, cannot
   * turn into a flood of synchronous writes.
   */
  private async refuseThrottled(blockingKey: string, keys: string[], base: Omit<AuditEvent, 'result' | 'reason' | 'detail'>, context: AuthContext, reason: 'throttled' | 'busy', wait: number, now: number): Promise<never> {
    const quiet = this.quietThrottled.get(blockingKey);
    if (quiet && now < quiet.until) {
      quiet.count += 1;
    } else {
      const notLogged = this.takeNotLogged([...new Set([blockingKey, ...keys])]);
      if (this.quietThrottled.size >= MAX_QUIET_SOURCES) this.quietThrottled.delete(this.quietThrottled.keys().next().value as string);
      this.quietThrottled.set(blockingKey, { until: now + wait * 1000, count: 0 });
      await this.audited(() => this.deps.store.append({ ...base, result: 'failure', reason, detail: { context, retryAfterSeconds: wait, ...notLogged } }));
    }
    // A tarpit: the answer to a throttled source is held a moment (a timer, no work), so a flood over a
    // few kept-alive connections becomes a trickle. Bounded, so that holding cannot pile up either.
    if (reason === 'throttled' && this.heldRefusals < MAX_HELD_REFUSALS) {
      this.heldRefusals += 1;
      try { await this.sleep(Math.min(wait * 1000, THROTTLED_HOLD_MS)); } finally { this.heldRefusals -= 1; }
    }
    throw new DeployrError('AUTH_THROTTLED', reason === 'busy' ? 'Too many passcode checks at once; wait before trying again.' : 'Too many failed attempts; wait before trying again.', { retryAfterSeconds: wait });
  }

  /** The count of refused attempts not yet written under these counters (as audit detail), forgetting it. */
  private takeNotLogged(keys: string[]): { throttledNotLogged?: number } {
    let count = 0;
    for (const key of keys) {
      count += this.quietThrottled.get(key)?.count ?? 0;
      this.quietThrottled.delete(key);
    }
    return count > 0 ? { throttledNotLogged: count } : {};
  }

  /** Runs an audit write; when it fails the login fails too (UNAVAILABLE), and no token is handed out. */
  private async audited<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (err instanceof DeployrError) throw err;
      const refused = new DeployrError('UNAVAILABLE', 'The audit trail cannot be written, so the login is refused; see the service log.');
      (refused as Error).cause = err;
      throw refused;
    }
  }

  /** Anonymous login: only while bypass is on; still a token and an audit row (no row, no token: UNAVAILABLE). */
  async loginAnonymous(input: { context: AuthContext; source: LoginSource }): Promise<IssuedToken> {
    const event = (result: string, reason: string, detail: Record<string, unknown> = {}): AuditEvent => ({
      kind: 'login', method: 'anonymous', subject: 'anonymous', source: input.source.address, device: input.source.deviceId, result, reason, detail: { context: input.context, ...detail },
    });
    if (!this.settings.bypass) {
      await this.audited(() => this.deps.store.append(event('failure', 'bypass_off')));
      throw authFailed();
    }
    const issued = await this.deps.tokens.issue({ method: 'anonymous', subject: 'anonymous', context: input.context });
    await this.audited(() => this.deps.store.append(event('success', 'ok', { tokenId: issued.tokenId })));
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** Issues a token for a method verified elsewhere (certificate, Entra ID), and audits it; no audit row, no token (UNAVAILABLE). */
  async issueVerified(input: { method: AuthMethod; subject: string; context: AuthContext; source: LoginSource; certificateThumbprint?: string; detail?: Record<string, unknown> }): Promise<IssuedToken> {
    const issued = await this.deps.tokens.issue({
      method: input.method, subject: input.subject, context: input.context,
      ...(input.certificateThumbprint ? { certificateThumbprint: input.certificateThumbprint } : {}),
    });
    await this.audited(() => this.deps.store.append({
      kind: 'login', method: input.method, subject: input.subject, source: input.source.address, device: input.source.deviceId,
      result: 'success', reason: 'ok', detail: { context: input.context, tokenId: issued.tokenId, ...input.detail },
    }));
    return { token: issued.token, expiresAt: issued.expiresAt };
  }

  /** Audits a refused login of a method verified elsewhere and returns the generic failure to throw. */
  async refuse(input: { method: AuthMethod; subject: string; reason: string; context: AuthContext; source: LoginSource; detail?: Record<string, unknown> }): Promise<DeployrError> {
    await this.audited(() => this.deps.store.append({
      kind: 'login', method: input.method, subject: input.subject, source: input.source.address, device: input.source.deviceId,
      result: 'failure', reason: input.reason, detail: { context: input.context, ...input.detail },
    }));
    return authFailed();
  }

  /**
   * Verifies a token's signature and claims, remembering tokens that verified (until they expire) so
   * that each request does not pay for the signature again. Only the signature check is remembered:
   * the checks against the settings in force (method on, passcode generation valid, certificate) run
   * on every request.
   */
  private async verifyToken(token: string): Promise<VerifiedToken> {
    const cached = this.verifiedTokens.get(token);
    if (cached && cached.expiresAt * 1000 > this.now() && this.deps.tokens.keyStillVerifies(cached.kid)) return cached;
    const v = await this.deps.tokens.verify(token);
    if (this.verifiedTokens.size >= MAX_VERIFIED_TOKENS) this.verifiedTokens.delete(this.verifiedTokens.keys().next().value as string);
    this.verifiedTokens.set(token, v);
    return v;
  }

  /**
   * Checks a bearer token against the settings in force now: a token whose method was turned off,
   * or whose passcode generation is no longer valid, is refused at once; a certificate-bound token
   * only works on a connection presenting that certificate, and only while that certificate still
   * passes the certificate rules in force now (CA bundle, validity, EKU, subject/SAN patterns).
   * `peerOf` reads what the connection's TLS layer says about the client certificate (null on plain
   * HTTP); it is only called for certificate-bound tokens. `addressOf` gives the request's source
   * address: a scoped passcode's token with source ranges works only from them (no address: refused).
   */
  async authenticate(token: string, peerOf: () => PeerCertificateInput | null, addressOf?: () => string): Promise<Principal> {
    const v: VerifiedToken = await this.verifyToken(token);
    // A change saved by any process (a rotation, a method turned off) applies to the next request.
    await this.deps.security.refresh();
    return this.admit(v, peerOf, addressOf);
  }

  /**
   * `authenticate` without waiting, for the common case that needs no I/O: the token's signature was
   * verified before and the settings were compared with the store within the last millisecond
   * (`SecurityState.isFresh`). Returns null when it cannot answer that way (then call
   * `authenticate`); throws exactly what `authenticate` throws for a token it refuses.
   */
  authenticateCached(token: string, peerOf: () => PeerCertificateInput | null, addressOf?: () => string): Principal | null {
    const v = this.verifiedTokens.get(token);
    if (!v || v.expiresAt * 1000 <= this.now() || !this.deps.security.isFresh() || !this.deps.tokens.keyStillVerifies(v.kid)) return null;
    return this.admit(v, peerOf, addressOf);
  }

  /** The checks of a verified token against the settings in force now (see `authenticate`). */
  private admit(v: VerifiedToken, peerOf: () => PeerCertificateInput | null, addressOf?: () => string): Principal {
    const s = this.settings;
    const invalid = (): DeployrError => new DeployrError('TOKEN_INVALID', 'The token is missing, expired or not valid; sign in again.');
    switch (v.method) {
      case 'anonymous': if (!s.bypass) throw invalid(); break;
      case 'entra': if (!s.entra) throw invalid(); break;
      case 'certificate': {
        const peer = s.certificate && v.certificateThumbprint ? peerOf() : null;
        if (!s.certificate || !v.certificateThumbprint || !peer) throw invalid();
        const evaluation = evaluatePeerCertificate(peer, s.certificate, new Date(this.now()));
        if (!evaluation.ok || evaluation.thumbprint !== v.certificateThumbprint) throw invalid();
        break;
      }
      case 'passcode':
        if (v.scopedPasscodeId !== undefined) {
          // A scoped passcode's token: only while it is neither revoked nor expired, and only from its sources.
          const p = this.deps.security.scopedPasscode(v.scopedPasscodeId);
          if (!p || !scopedPasscodeLive(p, this.now())) throw invalid();
          if (p.scope.sources.length > 0) {
            const address = addressOf?.() ?? null;
            if (address === null || !p.scope.sources.some((c) => cidrContains(this.cidr(c), address))) throw invalid();
          }
          if (v.context === 'boot' && s.entra) throw invalid();
          break;
        }
        // The current passcode's generation needs no date; a previous one only inside its overlap window.
        if (v.passcodeGeneration === undefined) throw invalid();
        if (v.passcodeGeneration !== s.passcode?.generation && !validPasscodeGenerations(s, new Date(this.now())).includes(v.passcodeGeneration)) throw invalid();
        if (v.context === 'boot' && s.entra) throw invalid();
        break;
    }
    let principal = this.principals.get(v);
    if (!principal) {
      principal = Object.freeze({
        method: v.method, subject: v.subject, context: v.context, taskSequenceLimit: v.taskSequenceLimit ?? null,
        certificateThumbprint: v.certificateThumbprint ?? null, tokenId: v.tokenId, expiresAt: v.expiresAt,
      });
      this.principals.set(v, principal);
    }
    return principal;
  }
}

/** The subject DNs of a CA bundle (what the client needs to pick a certificate); none when it does not parse. */
function caSubjects(pem: string): string[] {
  try {
    return parseCaBundle(pem).map((ca) => ca.subject.split('\n').filter((line) => line !== '').join(', '));
  } catch {
    return [];
  }
}

