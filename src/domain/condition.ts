// Step conditions: DeployR's JSON variable queries (parse and evaluate) and raw PowerShell expressions.

import { DeployrError } from './errors.js';
import { notValidJson } from './json-syntax.js';
import { variableLookup, type VariableSource } from './variables.js';

/** How the items of a query group combine. */
export type GroupOperator = 'and' | 'or';

/** Every comparison operator a query item may use (names as DeployR writes them, camelCase). */
export const COMPARISON_OPERATORS = [
  'equals',
  'notEquals',
  'exists',
  'notExists',
  'contains',
  'notContains',
  'startsWith',
  'endsWith',
  'like',
  'greaterThan',
  'lessThan',
  'greaterThanOrEquals',
  'lessThanOrEquals',
] as const;

/** One comparison operator (see `COMPARISON_OPERATORS`). */
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

/** One query item: compare the task sequence variable `field` with `value`. */
export interface QueryComparison {
  /** The variable name (matched case-insensitively). */
  readonly field: string;
  readonly operator: ComparisonOperator;
  /** The value to compare with; "" for `exists`/`notExists` when the query gives none. */
  readonly value: string;
}

/** A group of query items combined with `and` or `or`; groups nest. A group with no items is true. */
export interface QueryGroup {
  readonly operator: GroupOperator;
  readonly items: readonly QueryNode[];
}

/** A query item or a nested group. */
export type QueryNode = QueryComparison | QueryGroup;

/** A parsed step condition. */
export type Condition =
  | { readonly kind: 'always' }
  | { readonly kind: 'query'; readonly query: QueryGroup }
  | { readonly kind: 'powershell'; readonly expression: string };

/** Deepest nesting of query groups accepted. */
const MAX_QUERY_DEPTH = 64;

const OPERATOR_BY_LOWERCASE = new Map<string, ComparisonOperator>(COMPARISON_OPERATORS.map((op) => [op.toLowerCase(), op]));

/**
 * Parses a step's `condition` string. "", whitespace or null means always true. A string whose first
 * non-blank character is `{` must be a JSON query `{"operator":"and"|"or","items":[…]}` (a
 * PowerShell script block literal would be meaningless as a condition, so a broken query is an
 * error rather than PowerShell); anything else is a PowerShell expression, kept verbatim.
 * Operator names are accepted in any case and returned in DeployR's camelCase; a top-level single
 * comparison is wrapped in an `and` group. Throws DeployrError INVALID_INPUT whose message and
 * `details.path` name the bad part, starting from `basePath` (default `condition`), e.g.
 * `condition.items[1].operator: unknown operator "sameAs"`.
 */
export function parseCondition(s: string | null | undefined, basePath = 'condition'): Condition {
  if (s === null || s === undefined) return { kind: 'always' };
  if (typeof s !== 'string') fail(basePath, 'expected a string or null');
  const text = s.trim();
  if (text === '') return { kind: 'always' };
  if (!text.startsWith('{')) return { kind: 'powershell', expression: s };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    fail(basePath, `a condition starting with "{" must be a JSON query, but it is ${notValidJson(text, err)}`);
  }
  const node = parseNode(json, basePath, 0);
  const query: QueryGroup = 'items' in node ? node : { operator: 'and', items: [node] };
  return { kind: 'query', query };
}

/**
 * Formats a condition as DeployR stores it: "" for always, the query's JSON (DeployR's shape and
 * key order), or the PowerShell expression verbatim.
 */
export function formatCondition(condition: Condition): string {
  switch (condition.kind) {
    case 'always':
      return '';
    case 'query':
      return JSON.stringify(toJson(condition.query));
    case 'powershell':
      return condition.expression;
  }
}

/**
 * Evaluates a query against task sequence variables. Names are case-insensitive and so are all
 * string comparisons. A missing variable counts as "" (a variable set to "" does not exist).
 * `like` matches the whole value with `*` or `%` for any run of characters and `?` for one
 * character. The ordering operators compare numerically when both sides are numbers and as
 * case-insensitive strings otherwise; they are false when the variable is missing or empty.
 */
export function evaluateQuery(query: QueryNode, vars: VariableSource): boolean {
  return evaluateNode(query, variableLookup(vars));
}

function evaluateNode(node: QueryNode, lookup: (name: string) => string | undefined): boolean {
  if ('items' in node) {
    if (node.items.length === 0) return true;
    return node.operator === 'and'
      ? node.items.every((item) => evaluateNode(item, lookup))
      : node.items.some((item) => evaluateNode(item, lookup));
  }
  return compare(node, lookup(node.field) ?? '');
}

function compare(item: QueryComparison, actual: string): boolean {
  const a = fold(actual);
  const v = fold(item.value);
  switch (item.operator) {
    case 'equals':
      return a === v;
    case 'notEquals':
      return a !== v;
    case 'exists':
      return actual !== '';
    case 'notExists':
      return actual === '';
    case 'contains':
      return a.includes(v);
    case 'notContains':
      return !a.includes(v);
    case 'startsWith':
      return a.startsWith(v);
    case 'endsWith':
      return a.endsWith(v);
    case 'like':
      return wildcardToRegExp(v).test(a);
    case 'greaterThan':
      return actual !== '' && order(actual, item.value) > 0;
    case 'lessThan':
      return actual !== '' && order(actual, item.value) < 0;
    case 'greaterThanOrEquals':
      return actual !== '' && order(actual, item.value) >= 0;
    case 'lessThanOrEquals':
      return actual !== '' && order(actual, item.value) <= 0;
  }
}

/** Case folding used by every string comparison. */
function fold(s: string): string {
  return s.toLowerCase();
}

const NUMBER_PATTERN = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Sign of a - b: numeric when both are numbers, else case-insensitive ordinal string order. */
function order(a: string, b: string): number {
  if (NUMBER_PATTERN.test(a) && NUMBER_PATTERN.test(b)) {
    const x = Number(a);
    const y = Number(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  const x = fold(a);
  const y = fold(b);
  return x === y ? 0 : x < y ? -1 : 1;
}

/** A whole-string matcher for a `like` pattern: `*` and `%` match any run, `?` one character. */
function wildcardToRegExp(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*' || ch === '%') source += '[\\s\\S]*';
    else if (ch === '?') source += '[\\s\\S]';
    else source += ch.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'u');
}

function parseNode(json: unknown, path: string, depth: number): QueryNode {
  if (depth > MAX_QUERY_DEPTH) fail(path, `query groups nest deeper than ${MAX_QUERY_DEPTH} levels`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(path, `expected a JSON object, got ${describe(json)}`);
  const obj = json as Record<string, unknown>;
  if (Object.hasOwn(obj, 'items')) {
    const op = obj['operator'];
    if (typeof op !== 'string') fail(`${path}.operator`, `expected "and" or "or", got ${describe(op)}`);
    const lower = op.toLowerCase();
    if (lower !== 'and' && lower !== 'or') fail(`${path}.operator`, `unknown group operator ${quote(op)} (expected "and" or "or")`);
    const items = obj['items'];
    if (!Array.isArray(items)) fail(`${path}.items`, `expected an array, got ${describe(items)}`);
    return {
      operator: lower,
      items: items.map((item: unknown, i) => parseNode(item, `${path}.items[${i}]`, depth + 1)),
    };
  }
  const field = obj['field'];
  if (typeof field !== 'string' || field.trim() === '') {
    fail(`${path}.field`, `expected a variable name, got ${describe(field)}`);
  }
  const op = obj['operator'];
  if (typeof op !== 'string') fail(`${path}.operator`, `expected a comparison operator, got ${describe(op)}`);
  const operator = OPERATOR_BY_LOWERCASE.get(op.toLowerCase());
  if (operator === undefined) {
    fail(`${path}.operator`, `unknown operator ${quote(op)} (expected one of ${COMPARISON_OPERATORS.join(', ')})`);
  }
  const raw = obj['value'];
  let value: string;
  if (typeof raw === 'string') value = raw;
  else if (typeof raw === 'number' || typeof raw === 'boolean') value = String(raw);
  else if ((raw === undefined || raw === null) && (operator === 'exists' || operator === 'notExists')) value = '';
  else fail(`${path}.value`, `expected a string, got ${describe(raw)}`);
  return { field: field.trim(), operator, value };
}

function toJson(node: QueryNode): unknown {
  if ('items' in node) return { operator: node.operator, items: node.items.map(toJson) };
  return { field: node.field, operator: node.operator, value: node.value };
}

function fail(path: string, message: string): never {
  throw new DeployrError('INVALID_INPUT', `${path}: ${message}`, { path });
}

function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 37)}...` : s);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : `a ${t}`;
}
