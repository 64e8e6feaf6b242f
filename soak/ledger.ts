// What the service and the configuration tool acknowledged during the kill phase, and the checks that nothing acknowledged was lost after a kill -9.

/** One audit entry as `deployr audit export` writes it (the fields the soak reads). */
export interface AuditRow {
  seq: number;
  kind: string;
  method: string;
  result: string;
  reason: string;
  detail?: Record<string, unknown> | null;
}

/** A scoped passcode as `deployr passcode list --json` shows it (the fields the soak reads). */
export interface ScopedState {
  name: string;
  maxUses: number | null;
  uses: number;
  state: string;
}

/** A run as `GET /v1/runs/{id}` shows it (the fields the soak reads). */
export interface RunState {
  id: string;
  status: string;
  steps: { key: string; status: string }[];
}

/** Everything acknowledged so far: a 2xx answer, or a configuration tool that exited 0. */
export interface Ledger {
  /** Token id (jti) → what signed in (`global` or the scoped passcode's name). */
  tokens: Map<string, string>;
  /** Settings revisions of acknowledged global passcode changes. */
  passcodeRevisions: Set<number>;
  /** Scoped passcodes whose `passcode add` exited 0, with their use limit. */
  scopedAdded: Map<string, number>;
  /** Scoped passcodes whose `passcode revoke` exited 0. */
  scopedRevoked: Set<string>;
  /** Acknowledged sign-ins per scoped passcode. */
  scopedUses: Map<string, number>;
  /** Registered runs. */
  runsStarted: Set<string>;
  /** Runs whose finish was acknowledged, with the status sent. */
  runsFinished: Map<string, string>;
  /** Acknowledged step reports: run id → step key → the status reported last. */
  steps: Map<string, Map<string, string>>;
}

/** An empty ledger. */
export function emptyLedger(): Ledger {
  return { tokens: new Map(), passcodeRevisions: new Set(), scopedAdded: new Map(), scopedRevoked: new Set(), scopedUses: new Map(), runsStarted: new Set(), runsFinished: new Map(), steps: new Map() };
}

/** What the soak found after a restart, for `checkLedger`. */
export interface Observed {
  auditVerifyExit: number | null;
  integrity: string;
  rows: AuditRow[];
  scoped: ScopedState[];
  /** The runs checked this time (a subset of the ledger's, the latest ones). */
  runs: Map<string, RunState | null>;
  /** Whether the last acknowledged passcode (or the unacknowledged change's) signed in. */
  passcodeSignsIn: boolean;
}

const STEP_ORDER = ['running', 'succeeded', 'failed', 'continued', 'skipped'];

/** Every broken invariant, one line each (empty: all held). */
export function checkLedger(ledger: Ledger, seen: Observed): string[] {
  const broken: string[] = [];
  if (seen.auditVerifyExit !== 0) broken.push(`deployr audit verify exited ${seen.auditVerifyExit}: the audit chain does not verify`);
  if (seen.integrity !== 'ok') broken.push(`PRAGMA integrity_check: ${seen.integrity.slice(0, 200)}`);
  if (!seen.passcodeSignsIn) broken.push('no valid passcode: neither the last acknowledged passcode nor an unacknowledged change signs in');

  const tokenRows = new Set<string>();
  const revisions = new Set<number>();
  const added = new Set<string>();
  const revoked = new Set<string>();
  const started = new Set<string>();
  const finished = new Set<string>();
  const scopedRows = new Map<string, number>();
  for (const r of seen.rows) {
    const d = r.detail ?? {};
    if (r.kind === 'login' && r.result === 'success' && typeof d.tokenId === 'string') {
      tokenRows.add(d.tokenId);
      if (typeof d.scopedPasscode === 'string') scopedRows.set(d.scopedPasscode, (scopedRows.get(d.scopedPasscode) ?? 0) + 1);
    }
    if (r.kind === 'settings' && r.reason.startsWith('passcode_') && typeof d.revision === 'number') revisions.add(d.revision);
    if (r.kind === 'settings' && r.reason === 'scoped_passcode_added' && typeof d.name === 'string') added.add(d.name);
    if (r.kind === 'settings' && r.reason === 'scoped_passcode_revoked' && typeof d.name === 'string') revoked.add(d.name);
    if (r.kind === 'run' && r.method === 'start' && typeof d.runId === 'string') started.add(d.runId);
    if (r.kind === 'run' && r.method === 'finish' && typeof d.runId === 'string') finished.add(d.runId);
  }
  const lost = (what: string, missing: string[]): void => {
    if (missing.length > 0) broken.push(`${missing.length} acknowledged ${what} without an audit row (first: ${missing[0]})`);
  };
  lost('sign-in(s)', [...ledger.tokens.keys()].filter((t) => !tokenRows.has(t)));
  lost('passcode change(s)', [...ledger.passcodeRevisions].filter((r) => !revisions.has(r)).map(String));
  lost('scoped passcode addition(s)', [...ledger.scopedAdded.keys()].filter((n) => !added.has(n)));
  lost('scoped passcode revocation(s)', [...ledger.scopedRevoked].filter((n) => !revoked.has(n)));
  lost('run registration(s)', [...ledger.runsStarted].filter((id) => !started.has(id)));
  lost('run finish(es)', [...ledger.runsFinished.keys()].filter((id) => !finished.has(id)));

  const byName = new Map(seen.scoped.map((s) => [s.name, s]));
  for (const [name, limit] of ledger.scopedAdded) {
    const s = byName.get(name);
    if (!s) { broken.push(`scoped passcode ${name} was added (acknowledged) but is not listed`); continue; }
    if (s.maxUses !== limit) broken.push(`scoped passcode ${name}: limit ${s.maxUses}, added with ${limit}`);
  }
  for (const s of seen.scoped) {
    if (s.maxUses !== null && s.uses > s.maxUses) broken.push(`scoped passcode ${s.name}: ${s.uses} uses over its limit of ${s.maxUses}`);
    const acked = ledger.scopedUses.get(s.name) ?? 0;
    if (s.uses < acked) broken.push(`scoped passcode ${s.name}: ${s.uses} uses counted, ${acked} sign-ins acknowledged`);
    const rows = scopedRows.get(s.name) ?? 0;
    if (rows !== s.uses) broken.push(`scoped passcode ${s.name}: ${s.uses} uses counted, ${rows} sign-in audit rows`);
    if (ledger.scopedRevoked.has(s.name) && s.state !== 'revoked') broken.push(`scoped passcode ${s.name}: revoked (acknowledged) but ${s.state}`);
  }

  for (const [id, run] of seen.runs) {
    if (!run) { broken.push(`run ${id} was registered (acknowledged) but is gone`); continue; }
    const want = ledger.runsFinished.get(id);
    if (want !== undefined && run.status !== want) broken.push(`run ${id}: finish ${want} acknowledged, status ${run.status}`);
    const stored = new Map(run.steps.map((s) => [s.key.toLowerCase(), s.status]));
    for (const [key, status] of ledger.steps.get(id) ?? []) {
      const got = stored.get(key.toLowerCase());
      if (got === undefined) broken.push(`run ${id}: acknowledged step report ${key} is missing`);
      else if (STEP_ORDER.indexOf(got) < STEP_ORDER.indexOf(status)) broken.push(`run ${id}: step ${key} acknowledged ${status}, stored ${got}`);
    }
  }
  return broken;
}
