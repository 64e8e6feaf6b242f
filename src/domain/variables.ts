// Task sequence variables: case-insensitive names, %NAME% expansion, secret names and redaction.

import { DeployrError } from './errors.js';

/** The text that replaces a secret value in logs and messages. */
export const REDACTED = '********';

/** Names that are always secret, compared case-insensitively. */
const SECRET_NAMES: readonly string[] = ['passcode'];

/** Name prefixes that make a variable secret, compared case-insensitively (§3.6 of deployr.md). */
const SECRET_PREFIXES: readonly string[] = ['deployrtoken', 'deployrclientpasscode'];

/** A valid variable name: one or more characters, none of them whitespace, `%` or `=`. */
const NAME_PATTERN = /^[^\s%=]+$/;

/**
 * Anything variables can be read from: a plain record, a Map, or a `VariableStore`.
 * Names are always looked up case-insensitively.
 */
export type VariableSource = VariableStore | ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/**
 * True when `name` can be a task sequence variable name: non-empty, with no whitespace, `%` or
 * `=` (the characters that delimit `%NAME%` placeholders and `NAME=VALUE` arguments).
 */
export function isValidVariableName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

/**
 * True when the variable `name` holds a secret whose value must never be shown: `Passcode`, any
 * name starting `DEPLOYRTOKEN` or `DEPLOYRCLIENTPASSCODE`, and any of `extraSecretNames`
 * (all case-insensitive).
 */
export function isSecretVariableName(name: string, extraSecretNames: Iterable<string> = []): boolean {
  const lower = name.toLowerCase();
  if (SECRET_NAMES.includes(lower)) return true;
  if (SECRET_PREFIXES.some((p) => lower.startsWith(p))) return true;
  for (const extra of extraSecretNames) {
    if (extra.toLowerCase() === lower) return true;
  }
  return false;
}

/**
 * Returns a case-insensitive lookup function over `vars`. An exact-case match wins; otherwise
 * the last entry whose name matches case-insensitively. Only own entries are seen, so names such
 * as `constructor` or `__proto__` never resolve to something inherited.
 */
export function variableLookup(vars: VariableSource): (name: string) => string | undefined {
  if (vars instanceof VariableStore) return (name) => vars.get(name);
  const exact = new Map<string, string>();
  const folded = new Map<string, string>();
  const entries = vars instanceof Map ? vars.entries() : Object.entries(vars as Readonly<Record<string, string>>);
  for (const [name, value] of entries) {
    if (typeof value !== 'string') continue;
    exact.set(name, value);
    folded.set(name.toLowerCase(), value);
  }
  return (name) => exact.get(name) ?? folded.get(name.toLowerCase());
}

/**
 * Replaces each `%NAME%` in `text` with the value of variable NAME (names case-insensitive).
 * Unknown names are left as they are, `%%` stays literal, replaced values are not expanded again,
 * and text without `%` is returned unchanged. A `%` that does not start a valid name (for
 * example in `100% sure`) is kept and scanning continues with the next character.
 */
export function expandVariables(text: string, vars: VariableSource): string {
  if (!text.includes('%')) return text;
  const lookup = variableLookup(vars);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('%', i);
    if (start === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, start);
    const end = text.indexOf('%', start + 1);
    if (end === -1) {
      out += text.slice(start);
      break;
    }
    if (end === start + 1) {
      out += '%%';
      i = end + 1;
      continue;
    }
    const name = text.slice(start + 1, end);
    if (!NAME_PATTERN.test(name)) {
      out += '%';
      i = start + 1;
      continue;
    }
    const value = lookup(name);
    out += value ?? text.slice(start, end + 1);
    i = end + 1;
  }
  return out;
}

/**
 * Replaces every occurrence of each non-empty secret value in `text` with `********`. Adjacent and
 * overlapping occurrences collapse into one mask, and the result is checked again so that a secret
 * cannot reappear across a mask's edge. The one thing it cannot hide is a secret made only of `*`
 * characters that fits inside the mask itself.
 */
export function redactSecrets(text: string, secretValues: Iterable<string>): string {
  const secrets = [...new Set(secretValues)].filter((s) => typeof s === 'string' && s.length > 0);
  if (secrets.length === 0 || text.length === 0) return text;
  if (!secrets.some((s) => text.includes(s))) return text;

  const masked = new Array<boolean>(text.length).fill(false);
  // Pass 1: mark every occurrence in the original text.
  for (const secret of secrets) {
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
      masked.fill(true, at, at + secret.length);
    }
  }
  // Later passes: a secret may reappear where a mask meets the text around it; absorb it.
  for (;;) {
    const { output, origin } = renderMasked(text, masked);
    let progressed = false;
    for (const secret of secrets) {
      for (let at = output.indexOf(secret); at !== -1; at = output.indexOf(secret, at + 1)) {
        const from = origin[at]?.[0] ?? 0;
        const to = origin[at + secret.length - 1]?.[1] ?? text.length;
        for (let k = from; k < to; k++) {
          if (!masked[k]) {
            masked[k] = true;
            progressed = true;
          }
        }
      }
    }
    if (!progressed) return output;
  }
}

/** Renders `text` with each run of masked characters shown as one REDACTED; maps output chars to source ranges. */
function renderMasked(text: string, masked: readonly boolean[]): { output: string; origin: Array<[number, number]> } {
  let output = '';
  const origin: Array<[number, number]> = [];
  let i = 0;
  while (i < text.length) {
    if (masked[i]) {
      let j = i;
      while (j < text.length && masked[j]) j++;
      output += REDACTED;
      for (let k = 0; k < REDACTED.length; k++) origin.push([i, j]);
      i = j;
    } else {
      output += text.charAt(i);
      origin.push([i, i + 1]);
      i++;
    }
  }
  return { output, origin };
}

/** Options for a `VariableStore`. */
export interface VariableStoreOptions {
  /** Further names (case-insensitive) whose values are secret, besides the built-in ones. */
  readonly extraSecretNames?: Iterable<string>;
}

/** Options for `VariableStore.set`. */
export interface SetVariableOptions {
  /** Mark this variable secret even when its name is not a secret name. */
  readonly secret?: boolean;
}

/**
 * The variables of one task sequence run: names are case-insensitive (the first spelling set is
 * kept), values are strings, and the store remembers which variables are secret. `toJSON`
 * redacts secret values so a store written to a log leaks nothing; `toRecord` gives every value.
 */
export class VariableStore {
  readonly #entries = new Map<string, { name: string; value: string }>();
  readonly #secret = new Set<string>();
  readonly #extraSecretNames: readonly string[];

  /** Creates a store, optionally seeded from `initial` (later duplicates, by case-insensitive name, win). */
  constructor(initial?: VariableSource, options: VariableStoreOptions = {}) {
    this.#extraSecretNames = [...(options.extraSecretNames ?? [])];
    if (initial !== undefined) {
      const entries =
        initial instanceof VariableStore
          ? initial.entries()
          : initial instanceof Map
            ? initial.entries()
            : Object.entries(initial as Readonly<Record<string, string>>);
      for (const [name, value] of entries) {
        this.set(name, value, { secret: initial instanceof VariableStore && initial.isSecret(name) });
      }
    }
  }

  /** The number of variables. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value of `name` (case-insensitive), or undefined when it is not set. */
  get(name: string): string | undefined {
    return this.#entries.get(name.toLowerCase())?.value;
  }

  /** True when `name` (case-insensitive) is set. */
  has(name: string): boolean {
    return this.#entries.has(name.toLowerCase());
  }

  /**
   * Sets `name` to `value`. Throws INVALID_INPUT for an invalid name (see `isValidVariableName`)
   * or a non-string value. Secret names, and any name set with `{ secret: true }`, stay secret.
   */
  set(name: string, value: string, options: SetVariableOptions = {}): this {
    if (!isValidVariableName(name)) {
      throw new DeployrError('INVALID_INPUT', `invalid variable name ${JSON.stringify(String(name).slice(0, 80))}: it must be non-empty, without spaces, "%" or "="`);
    }
    if (typeof value !== 'string') {
      throw new DeployrError('INVALID_INPUT', `variable ${name}: the value must be a string`);
    }
    const key = name.toLowerCase();
    const existing = this.#entries.get(key);
    this.#entries.set(key, { name: existing?.name ?? name, value });
    if (options.secret === true || isSecretVariableName(name, this.#extraSecretNames)) this.#secret.add(key);
    return this;
  }

  /** Removes `name` (case-insensitive); true when it was set. Its secret mark is kept. */
  delete(name: string): boolean {
    return this.#entries.delete(name.toLowerCase());
  }

  /** Marks `name` (case-insensitive) secret, whether or not it is set yet. */
  markSecret(name: string): void {
    this.#secret.add(name.toLowerCase());
  }

  /** True when the value of `name` must never be shown. */
  isSecret(name: string): boolean {
    return this.#secret.has(name.toLowerCase()) || isSecretVariableName(name, this.#extraSecretNames);
  }

  /** The non-empty values of every secret variable, for `redactSecrets`. */
  secretValues(): string[] {
    const out: string[] = [];
    for (const [key, { value }] of this.#entries) {
      if (this.#secret.has(key) && value !== '') out.push(value);
    }
    return out;
  }

  /** `[name, value]` pairs in the order first set, with names as first spelled. */
  *entries(): IterableIterator<[string, string]> {
    for (const { name, value } of this.#entries.values()) yield [name, value];
  }

  /** Same as `entries()`. */
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  /** Expands `%NAME%` placeholders in `text` from this store (see `expandVariables`). */
  expand(text: string): string {
    return expandVariables(text, this);
  }

  /** Replaces every secret value in `text` with `********` (see `redactSecrets`). */
  redact(text: string): string {
    return redactSecrets(text, this.secretValues());
  }

  /** Every variable as a plain record, secret values included (for persisting run state). */
  toRecord(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of this.entries()) defineEntry(out, name, value);
    return out;
  }

  /** Every variable as a plain record with secret values replaced by `********` (safe to log). */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of this.entries()) defineEntry(out, name, this.isSecret(name) ? REDACTED : value);
    return out;
  }
}

/** Adds an own, enumerable property (safe even for a name such as `__proto__`). */
function defineEntry(target: Record<string, string>, name: string, value: string): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}
