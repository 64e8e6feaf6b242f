// Readers for the fields of an imported JSON document: each checks one field and names its JSON path when it is wrong.

import { DeployrError } from './errors.js';
import { isGuid } from './reference.js';
import type { JsonObject, JsonValue } from './json-value.js';

/** Keys that could reach an object's prototype; refused anywhere in an import. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting of JSON inside unknown fields accepted. */
const MAX_DEPTH = 100;

/**
 * Field readers for one kind of document. Every reader returns the value typed or throws
 * DeployrError INVALID_INPUT whose message starts with the JSON path of the field (the document's
 * label for the root), e.g. `versions[0].options[2].required: expected a boolean, got a string`;
 * `details.path` holds the same path.
 */
export interface FieldReaders {
  /** Throws the path-named INVALID_INPUT error. */
  fail(path: string, message: string): never;
  /** An object (refusing keys such as `__proto__`). */
  object(v: unknown, path: string): Record<string, unknown>;
  array(v: unknown, path: string): unknown[];
  /** An array, or null. */
  arrayOrNull(v: unknown, path: string): unknown[] | null;
  string(v: unknown, path: string): string;
  nonEmptyString(v: unknown, path: string): string;
  stringOrNull(v: unknown, path: string): string | null;
  boolean(v: unknown, path: string): boolean;
  /** A safe integer ≥ `min`. */
  wholeNumber(v: unknown, path: string, min: number): number;
  /** Whole Unix epoch seconds. */
  epochSeconds(v: unknown, path: string): number;
  /** A GUID, returned in lower case. */
  guid(v: unknown, path: string): string;
  /** Any JSON value (copied), nested at most 100 levels. */
  jsonValue(v: unknown, path: string): JsonValue;
  /** The fields of `obj` not in `known`, copied, or undefined when there are none. */
  extras(obj: Record<string, unknown>, known: readonly string[], path: string): JsonObject | undefined;
}

/** The path of `key` inside `path` (`a.b`, or `a["odd key"]`). */
export function keyPath(path: string, key: string): string {
  const segment = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (path === '') return segment;
  return segment.startsWith('[') ? `${path}${segment}` : `${path}.${segment}`;
}

/** Sets an own enumerable property, safe whatever the key. */
export function defineField<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy of a JSON value (safe whatever the keys). */
export function cloneJson(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (typeof value === 'object' && value !== null) {
    const out: JsonObject = {};
    for (const [key, v] of Object.entries(value)) defineField(out, key, cloneJson(v));
    return out;
  }
  return value;
}

/** Adds `extra`'s fields (copied) after the known ones of `out`, never replacing a known one. */
export function withExtras(out: JsonObject, extra: JsonObject | undefined): JsonObject {
  if (extra !== undefined) {
    for (const [key, value] of Object.entries(extra)) {
      if (!Object.hasOwn(out, key)) defineField(out, key, cloneJson(value));
    }
  }
  return out;
}

/** How a wrong value is named in messages: null, nothing, an array, an object, a string, … */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing (the field is missing)';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** The field readers of a document whose root is called `rootLabel` in messages (e.g. "step definition export"). */
export function fieldReaders(rootLabel: string): FieldReaders {
  const fail = (path: string, message: string): never => {
    throw new DeployrError('INVALID_INPUT', `${path === '' ? rootLabel : path}: ${message}`, { path });
  };
  const object = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `expected an object, got ${describeValue(v)}`);
    for (const key of Object.keys(v as object)) {
      if (FORBIDDEN_KEYS.has(key)) fail(keyPath(path, key), 'this key is not allowed');
    }
    return v as Record<string, unknown>;
  };
  const array = (v: unknown, path: string): unknown[] => {
    if (!Array.isArray(v)) fail(path, `expected an array, got ${describeValue(v)}`);
    return v as unknown[];
  };
  const jsonValue = (v: unknown, path: string, depth = 0): JsonValue => {
    if (depth > MAX_DEPTH) fail(path, `nested deeper than ${MAX_DEPTH} levels`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) fail(path, 'expected a finite number');
      return v;
    }
    if (Array.isArray(v)) return v.map((item: unknown, i) => jsonValue(item, `${path}[${i}]`, depth + 1));
    if (typeof v === 'object') {
      const obj = object(v, path);
      const out: JsonObject = {};
      for (const [key, item] of Object.entries(obj)) defineField(out, key, jsonValue(item, keyPath(path, key), depth + 1));
      return out;
    }
    return fail(path, `expected a JSON value, got ${describeValue(v)}`);
  };
  return {
    fail,
    object,
    array,
    arrayOrNull: (v, path) => (v === null ? null : array(v, path)),
    string: (v, path) => {
      if (typeof v !== 'string') fail(path, `expected a string, got ${describeValue(v)}`);
      return v as string;
    },
    nonEmptyString: (v, path) => {
      if (typeof v !== 'string' || v.trim() === '') fail(path, `expected a non-empty string, got ${typeof v === 'string' ? 'an empty string' : describeValue(v)}`);
      return v as string;
    },
    stringOrNull: (v, path) => {
      if (v !== null && typeof v !== 'string') fail(path, `expected a string or null, got ${describeValue(v)}`);
      return v as string | null;
    },
    boolean: (v, path) => {
      if (typeof v !== 'boolean') fail(path, `expected a boolean, got ${describeValue(v)}`);
      return v as boolean;
    },
    wholeNumber: (v, path, min) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
        fail(path, `expected a whole number ≥ ${min}, got ${typeof v === 'number' ? String(v) : describeValue(v)}`);
      }
      return v as number;
    },
    epochSeconds: (v, path) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        fail(path, `expected a time in whole Unix epoch seconds, got ${typeof v === 'number' ? String(v) : describeValue(v)}`);
      }
      return v as number;
    },
    guid: (v, path) => {
      if (!isGuid(v)) fail(path, `expected a GUID, got ${typeof v === 'string' ? 'a string that is not one' : describeValue(v)}`);
      return (v as string).toLowerCase();
    },
    jsonValue: (v, path) => jsonValue(v, path, 0),
    extras: (obj, known, path) => {
      let out: JsonObject | undefined;
      for (const [key, value] of Object.entries(obj)) {
        if (known.includes(key)) continue;
        out ??= {};
        defineField(out, key, jsonValue(value, keyPath(path, key), 0));
      }
      return out;
    },
  };
}
