// Unit tests for step conditions: the real exports' conditions, operator truth tables, malformed queries.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  COMPARISON_OPERATORS,
  evaluateQuery,
  formatCondition,
  parseCondition,
  type ComparisonOperator,
  type QueryGroup,
} from './condition.js';
import { isDeployrError } from './errors.js';
import { VariableStore } from './variables.js';

const FIXTURES = new URL('../../../test/fixtures/deployr-exports/', import.meta.url);

interface RawStep {
  name: string;
  condition: string | null;
  groupMembers: RawStep[];
}

/** Every [step name, condition] in the real task sequence exports. */
function realConditions(): Array<[string, string | null]> {
  const out: Array<[string, string | null]> = [];
  const visit = (steps: RawStep[]): void => {
    for (const s of steps) {
      out.push([s.name, s.condition]);
      visit(s.groupMembers);
    }
  };
  for (const file of readdirSync(FIXTURES).filter((f) => f.startsWith('task-sequence-'))) {
    const json = JSON.parse(readFileSync(fileURLToPath(new URL(file, FIXTURES)), 'utf8')) as { versions: Array<{ steps: RawStep[] }> };
    for (const v of json.versions) visit(v.steps);
  }
  return out;
}

function query(s: string): QueryGroup {
  const c = parseCondition(s);
  assert.equal(c.kind, 'query');
  return c.query;
}

function one(operator: ComparisonOperator, value: string, field = 'X'): QueryGroup {
  return { operator: 'and', items: [{ field, operator, value }] };
}

/** Asserts that parsing fails with INVALID_INPUT naming `path`. */
function assertBad(s: string, path: string, message: RegExp): void {
  assert.throws(
    () => parseCondition(s),
    (err: unknown) => {
      assert.ok(isDeployrError(err, 'INVALID_INPUT'));
      assert.equal(err.details['path'], path);
      assert.ok(err.message.startsWith(`${path}: `), err.message);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('parseCondition on the real exports', () => {
  const all = realConditions();

  it('finds the three forms in the exports', () => {
    const kinds = new Set(all.map(([, c]) => parseCondition(c).kind));
    assert.deepEqual([...kinds].sort(), ['always', 'powershell', 'query']);
    assert.ok(all.some(([, c]) => c === null));
    assert.ok(all.some(([, c]) => c === ''));
  });

  it('parses every condition, and re-formats every JSON query to the same text', () => {
    for (const [name, c] of all) {
      const parsed = parseCondition(c);
      if (parsed.kind === 'query') assert.equal(formatCondition(parsed), c, name);
      if (parsed.kind === 'powershell') assert.equal(parsed.expression, c, name);
    }
  });

  it('keeps the BitLocker PowerShell condition verbatim', () => {
    const suspend = all.find(([name]) => name === 'Suspend BitLocker');
    assert.ok(suspend);
    const c = parseCondition(suspend[1]);
    assert.equal(c.kind, 'powershell');
    assert.match(formatCondition(c), /^get-ciminstance -Namespace root\\cimv2\\Security\\MicrosoftVolumeEncryption/);
  });

  it('evaluates the bare-metal OEM conditions for an HP laptop and for a Hyper-V VM', () => {
    const byName = new Map(all.map(([name, c]) => [name, c]));
    const cond = (name: string) => query(byName.get(name) ?? '');
    const hpLaptop = { MakeAlias: 'HP', Make: 'HP', ModelAlias: 'EliteBook 840 G8' };
    const hyperV = { MakeAlias: 'Microsoft', Make: 'Microsoft Corporation', ModelAlias: 'Virtual Machine' };
    assert.equal(evaluateQuery(cond('OEM Tools (Non-VMs)'), hpLaptop), true);
    assert.equal(evaluateQuery(cond('HP'), hpLaptop), true);
    assert.equal(evaluateQuery(cond('Lenovo'), hpLaptop), false);
    assert.equal(evaluateQuery(cond('Readiness Checker - Physicals'), hpLaptop), true);
    assert.equal(evaluateQuery(cond('Readiness Checker - VMs'), hpLaptop), false);
    assert.equal(evaluateQuery(cond('OEM Tools (Non-VMs)'), hyperV), false);
    assert.equal(evaluateQuery(cond('Readiness Checker - VMs'), hyperV), true);
    assert.equal(evaluateQuery(cond('Set-HyperVName'), hyperV), true);
    assert.equal(evaluateQuery(cond('Set-HyperVName'), { ...hyperV, MakeAlias: 'VMware' }), false);
  });

  it('evaluates the in-place refresh conditions (two items joined by and)', () => {
    const byName = new Map(realConditions());
    const prepare = query(byName.get('Prepare Refresh Scenario') ?? '');
    assert.equal(evaluateQuery(prepare, { DeploymentType: 'REFRESH', OSVERSION: 'WinPE' }), true);
    assert.equal(evaluateQuery(prepare, { DeploymentType: 'refresh', osversion: 'winpe' }), true);
    assert.equal(evaluateQuery(prepare, { DeploymentType: 'REFRESH', OSVERSION: '10.0.22631' }), false);
    assert.equal(evaluateQuery(prepare, { OSVERSION: 'WinPE' }), false);
    const group = query(byName.get('In-place Refresh') ?? '');
    assert.equal(evaluateQuery(group, { OSVERSION: 'WinPE' }), false);
    assert.equal(evaluateQuery(group, {}), true);
  });
});

describe('parseCondition forms', () => {
  it('treats null, undefined, "" and blanks as always true', () => {
    for (const c of [null, undefined, '', '   ', '\r\n']) assert.deepEqual(parseCondition(c), { kind: 'always' });
    assert.equal(formatCondition({ kind: 'always' }), '');
  });

  it('treats anything not starting with "{" as PowerShell, kept verbatim', () => {
    for (const c of ['$true', ' Test-Path C:\\Windows ', '[bool](Get-Item x)', '@{a=1}.a -eq 1']) {
      assert.deepEqual(parseCondition(c), { kind: 'powershell', expression: c });
    }
  });

  it('accepts operators in any case, returning DeployR camelCase', () => {
    const q = query('{"operator":"AND","items":[{"field":"ADComputerExists","operator":"Equals","value":"TRUE"},{"field":"x","operator":"NOTEQUALS","value":"1"}]}');
    assert.deepEqual(q, {
      operator: 'and',
      items: [
        { field: 'ADComputerExists', operator: 'equals', value: 'TRUE' },
        { field: 'x', operator: 'notEquals', value: '1' },
      ],
    });
  });

  it('parses nested groups and a lone top-level comparison', () => {
    const q = query('{"operator":"or","items":[{"operator":"and","items":[{"field":"A","operator":"exists"}]},{"field":"B","operator":"equals","value":2}]}');
    assert.deepEqual(q, {
      operator: 'or',
      items: [
        { operator: 'and', items: [{ field: 'A', operator: 'exists', value: '' }] },
        { field: 'B', operator: 'equals', value: '2' },
      ],
    });
    assert.deepEqual(query('{"field":"A","operator":"equals","value":"1"}'), one('equals', '1', 'A'));
  });

  it('names the path of each malformed part', () => {
    assertBad('{"operator":"and","items":[{"field":"A","operator":"sameAs","value":"1"}]}', 'condition.items[0].operator', /unknown operator "sameAs"/);
    assertBad('{"operator":"xor","items":[]}', 'condition.operator', /unknown group operator "xor"/);
    assertBad('{"operator":"and","items":{}}', 'condition.items', /expected an array/);
    assertBad('{"operator":"and","items":[{"operator":"or","items":[{"operator":"equals","value":"1"}]}]}', 'condition.items[0].items[0].field', /expected a variable name/);
    assertBad('{"operator":"and","items":[{"field":"A","operator":"equals"}]}', 'condition.items[0].value', /expected a string/);
    assertBad('{"operator":"and","items":[{"field":"A","operator":"equals","value":{}}]}', 'condition.items[0].value', /expected a string, got an object/);
    assertBad('{"operator":"and","items":[7]}', 'condition.items[0]', /expected a JSON object, got a number/);
    assertBad('{"operator":"and","items":[{"field":"A","operator":5,"value":"1"}]}', 'condition.items[0].operator', /expected a comparison operator/);
    assertBad('{"operator":"and","items":[', 'condition', /not valid JSON/);
    assertBad('{ $true }', 'condition', /must be a JSON query/);
  });

  it('starts paths at the given base path', () => {
    assert.throws(
      () => parseCondition('{"operator":"and","items":[{"field":"A","operator":"is","value":"1"}]}', 'versions[0].steps[2].condition'),
      (e: unknown) => isDeployrError(e, 'INVALID_INPUT') && e.details['path'] === 'versions[0].steps[2].condition.items[0].operator',
    );
  });

  it('refuses absurdly deep nesting instead of overflowing the stack', () => {
    let s = '{"field":"A","operator":"exists"}';
    for (let i = 0; i < 200; i++) s = `{"operator":"and","items":[${s}]}`;
    assert.throws(() => parseCondition(s), (e: unknown) => isDeployrError(e, 'INVALID_INPUT') && /deeper than/.test(e.message));
  });
});

describe('evaluateQuery truth tables', () => {
  // [operator, variable value (undefined = not set), comparison value, expected]
  const table: Array<[ComparisonOperator, string | undefined, string, boolean]> = [
    ['equals', 'WinPE', 'WinPE', true],
    ['equals', 'WINPE', 'winpe', true],
    ['equals', 'WinPE', 'WinPE ', false],
    ['equals', undefined, 'WinPE', false],
    ['equals', undefined, '', true],
    ['notEquals', 'WinPE', 'winpe', false],
    ['notEquals', '10.0', 'WinPE', true],
    ['notEquals', undefined, 'WinPE', true],
    ['exists', 'x', '', true],
    ['exists', '', '', false],
    ['exists', undefined, '', false],
    ['notExists', undefined, '', true],
    ['notExists', '', '', true],
    ['notExists', 'x', '', false],
    ['contains', 'HP EliteBook 840', 'elitebook', true],
    ['contains', 'HP EliteBook 840', 'ProBook', false],
    ['contains', undefined, 'x', false],
    ['notContains', 'HP EliteBook 840', 'ProBook', true],
    ['notContains', 'HP EliteBook 840', 'ELITE', false],
    ['startsWith', 'Virtual Machine', 'virtual', true],
    ['startsWith', 'Virtual Machine', 'Machine', false],
    ['endsWith', 'Virtual Machine', 'MACHINE', true],
    ['endsWith', 'Virtual Machine', 'Virtual', false],
    ['like', 'HP EliteBook 840 G8', 'hp elitebook*', true],
    ['like', 'HP EliteBook 840 G8', '*840 G?', true],
    ['like', 'HP EliteBook 840 G8', '%840%', true],
    ['like', 'HP EliteBook 840 G8', '*840', false],
    ['like', 'HP EliteBook 840 G8', 'HP EliteBook 840 G8', true],
    ['like', 'a.b', 'a?b', true],
    ['like', 'axb', 'a.b', false],
    ['like', '(x)[y]', '(x)[y]', true],
    ['like', '', '*', true],
    ['greaterThan', '16384', '8192', true],
    ['greaterThan', '10', '9', true],
    ['greaterThan', '9', '10', false],
    ['greaterThan', '8192', '8192', false],
    ['greaterThan', 'b', 'A', true],
    ['greaterThan', undefined, '0', false],
    ['greaterThan', '', '-5', false],
    ['lessThan', '4', '8', true],
    ['lessThan', '4.5', '4.25', false],
    ['lessThan', '-1', '0', true],
    ['lessThan', 'apple', 'Banana', true],
    ['lessThan', undefined, '8', false],
    ['greaterThanOrEquals', '8', '8.0', true],
    ['greaterThanOrEquals', '7', '8', false],
    ['greaterThanOrEquals', 'ABC', 'abc', true],
    ['lessThanOrEquals', '8', '8', true],
    ['lessThanOrEquals', '9', '8', false],
    ['lessThanOrEquals', '1e3', '1000', true],
  ];

  for (const [operator, actual, value, expected] of table) {
    it(`${operator}: ${JSON.stringify(actual ?? null)} vs ${JSON.stringify(value)} is ${expected}`, () => {
      const vars: Record<string, string> = actual === undefined ? {} : { Variable: actual };
      assert.equal(evaluateQuery(one(operator, value, 'VARIABLE'), vars), expected);
    });
  }

  it('covers every operator', () => {
    assert.deepEqual(new Set(table.map(([op]) => op)), new Set(COMPARISON_OPERATORS));
  });

  it('combines with and / or, nested, and treats an empty group as true', () => {
    const a = { field: 'A', operator: 'equals', value: '1' } as const;
    const b = { field: 'B', operator: 'equals', value: '1' } as const;
    for (const [av, bv] of [['1', '1'], ['1', '0'], ['0', '1'], ['0', '0']] as const) {
      const vars = { A: av, B: bv };
      assert.equal(evaluateQuery({ operator: 'and', items: [a, b] }, vars), av === '1' && bv === '1');
      assert.equal(evaluateQuery({ operator: 'or', items: [a, b] }, vars), av === '1' || bv === '1');
      const nested: QueryGroup = { operator: 'and', items: [{ operator: 'or', items: [a, b] }, { field: 'C', operator: 'notExists', value: '' }] };
      assert.equal(evaluateQuery(nested, vars), av === '1' || bv === '1');
      assert.equal(evaluateQuery(nested, { ...vars, C: 'set' }), false);
    }
    assert.equal(evaluateQuery({ operator: 'and', items: [] }, {}), true);
    assert.equal(evaluateQuery({ operator: 'or', items: [] }, {}), true);
  });

  it('reads variables from a record, a Map or a VariableStore, names in any case', () => {
    const q = one('equals', 'Lenovo', 'makealias');
    assert.equal(evaluateQuery(q, { MakeAlias: 'LENOVO' }), true);
    assert.equal(evaluateQuery(q, new Map([['MAKEALIAS', 'lenovo']])), true);
    assert.equal(evaluateQuery(q, new VariableStore({ MakeAlias: 'Lenovo' })), true);
    assert.equal(evaluateQuery(q, new Map([['Make', 'Lenovo']])), false);
  });

  it('never resolves a field through the prototype', () => {
    assert.equal(evaluateQuery(one('exists', '', 'constructor'), {}), false);
    assert.equal(evaluateQuery(one('exists', '', 'toString'), {}), false);
    assert.equal(evaluateQuery(one('exists', '', '__proto__'), {}), false);
  });

  it('equals and notEquals are always opposite, and so are the other negated pairs (property)', () => {
    const text = fc.string({ maxLength: 8 });
    fc.assert(
      fc.property(fc.option(text, { nil: undefined }), text, (actual, value) => {
        const vars: Record<string, string> = actual === undefined ? {} : { V: actual };
        const run = (op: ComparisonOperator) => evaluateQuery(one(op, value, 'v'), vars);
        assert.equal(run('equals'), !run('notEquals'));
        assert.equal(run('contains'), !run('notContains'));
        assert.equal(run('exists'), !run('notExists'));
        assert.equal(run('like'), run('like')); // never throws, whatever the pattern
      }),
    );
  });
});
