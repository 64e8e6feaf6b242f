// Unit tests for task sequence variables: %NAME% expansion, secret names, redaction and the VariableStore.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isDeployrError } from './errors.js';
import { REDACTED, VariableStore, expandVariables, isSecretVariableName, isValidVariableName, redactSecrets } from './variables.js';

describe('expandVariables', () => {
  const vars = { DEPLOYRHOST: 'https://deployr.example:7281', MakeAlias: 'HP', ModelAlias: 'EliteBook 840', Empty: '' };

  const cases: Array<[string, string]> = [
    ['%DEPLOYRHOST%/v1', 'https://deployr.example:7281/v1'],
    ['%deployrhost%', 'https://deployr.example:7281'],
    ['%MAKEALIAS%-%MODELALIAS%', 'HP-EliteBook 840'],
    ['%MakeAlias%%ModelAlias%', 'HPEliteBook 840'],
    ['[%Empty%]', '[]'],
    ['%Unknown%', '%Unknown%'],
    ['%Unknown% and %MakeAlias%', '%Unknown% and HP'],
    ['100%', '100%'],
    ['100% sure, %MakeAlias%', '100% sure, HP'],
    ['50% off, 20% more', '50% off, 20% more'],
    ['%%', '%%'],
    ['%%MakeAlias%%', '%%MakeAlias%%'],
    ['a %% b %MakeAlias%', 'a %% b HP'],
    ['%', '%'],
    ['%MakeAlias', '%MakeAlias'],
    ['', ''],
    ['no placeholders', 'no placeholders'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(expandVariables(input, vars), expected);
    });
  }

  it('does not expand a value again', () => {
    assert.equal(expandVariables('%A%', { A: '%B%', B: 'no' }), '%B%');
  });

  it('reads a Map or a VariableStore, and ignores inherited names', () => {
    assert.equal(expandVariables('%tsid%', new Map([['TSID', 'x:1']])), 'x:1');
    assert.equal(expandVariables('%tsid%', new VariableStore({ TSID: 'y:2' })), 'y:2');
    assert.equal(expandVariables('%constructor% %toString%', {}), '%constructor% %toString%');
  });

  it('prefers an exact-case name when a record has several spellings', () => {
    assert.equal(expandVariables('%Foo% %FOO% %foo%', { Foo: '1', FOO: '2' }), '1 2 2');
  });

  it('never changes text without "%" (property)', () => {
    const vars = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string());
    fc.assert(
      fc.property(fc.string().filter((s) => !s.includes('%')), vars, (text, v) => {
        assert.equal(expandVariables(text, v), text);
      }),
    );
  });

  it('replaces a lone placeholder with the value, whatever the name case (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,10}$/);
    fc.assert(
      fc.property(name, fc.string(), fc.boolean(), (n, value, upper) => {
        const placeholder = `%${upper ? n.toUpperCase() : n.toLowerCase()}%`;
        assert.equal(expandVariables(`<${placeholder}>`, { [n]: value }), `<${value}>`);
      }),
    );
  });
});

describe('isSecretVariableName', () => {
  it('knows Passcode and the DEPLOYRTOKEN* / DEPLOYRCLIENTPASSCODE* names, in any case', () => {
    for (const name of ['Passcode', 'PASSCODE', 'passcode', 'DEPLOYRTOKEN', 'DeployRToken001', 'deployrclientpasscode', 'DEPLOYRCLIENTPASSCODE_1']) {
      assert.equal(isSecretVariableName(name), true, name);
    }
    for (const name of ['PasscodeHint', 'MyPasscode', 'DEPLOYRHOST', 'TSID', 'Token', '_DEPLOYRTOKEN', '']) {
      assert.equal(isSecretVariableName(name), false, name);
    }
  });

  it('adds extra names, case-insensitively', () => {
    assert.equal(isSecretVariableName('DomainJoinPassword', ['domainjoinpassword']), true);
    assert.equal(isSecretVariableName('DomainJoinUser', ['domainjoinpassword']), false);
  });
});

describe('redactSecrets', () => {
  it('replaces every occurrence of every secret', () => {
    assert.equal(redactSecrets('passcode=hunter2; again hunter2', ['hunter2']), 'passcode=********; again ********');
    assert.equal(redactSecrets('a=one b=two', ['one', 'two']), 'a=******** b=********');
  });

  it('ignores empty secrets and leaves text without secrets alone', () => {
    assert.equal(redactSecrets('nothing here', ['', 'absent']), 'nothing here');
    assert.equal(redactSecrets('', ['x']), '');
  });

  it('merges overlapping and adjacent occurrences into one mask', () => {
    assert.equal(redactSecrets('abcabc!', ['abc']), '********!');
    assert.equal(redactSecrets('xabcdx', ['abc', 'bcd']), 'x********x');
  });

  it('does not let a secret reappear where the mask meets the text', () => {
    assert.equal(redactSecrets('aa*', ['a*']), '********');
    assert.equal(redactSecrets('s***', ['s****']).includes('s****'), false);
  });

  it('output never contains a secret (property)', () => {
    const secret = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => /[^*]/.test(s));
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 10 })), fc.array(secret, { minLength: 1, maxLength: 3 }), fc.string({ maxLength: 4 }), (parts, secrets, glue) => {
        // Build text that certainly contains the secrets, in many positions.
        const text = parts.map((p, i) => p + (secrets[i % secrets.length] ?? '')).join(glue) + secrets.join('');
        const out = redactSecrets(text, secrets);
        for (const s of secrets) assert.equal(out.includes(s), false, `${JSON.stringify(out)} contains ${JSON.stringify(s)}`);
      }),
      { numRuns: 500 },
    );
  });

  it('output never contains a secret in arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ minLength: 1, maxLength: 4 }).filter((s) => /[^*]/.test(s)), (text, s) => {
        assert.equal(redactSecrets(text, [s]).includes(s), false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('isValidVariableName', () => {
  it('accepts DeployR-style names and refuses empty, blank, % and =', () => {
    for (const n of ['TSID', '_CONTENT-OS', 'MACADDRESS001', 'OSDTargetSystemDrive', 'TSENVLIST:Applications']) assert.equal(isValidVariableName(n), true, n);
    for (const n of ['', ' ', 'A B', 'A%', 'A=B', 7]) assert.equal(isValidVariableName(n), false, String(n));
  });
});

describe('VariableStore', () => {
  it('gets, sets and checks names case-insensitively, keeping the first spelling', () => {
    const store = new VariableStore();
    store.set('OSDComputerName', 'PC-1').set('osdcomputername', 'PC-2');
    assert.equal(store.get('OSDCOMPUTERNAME'), 'PC-2');
    assert.equal(store.has('osdComputerName'), true);
    assert.deepEqual([...store.entries()], [['OSDComputerName', 'PC-2']]);
    assert.equal(store.size, 1);
    assert.equal(store.delete('OSDCOMPUTERNAME'), true);
    assert.equal(store.has('OSDComputerName'), false);
    assert.equal(store.get('Missing'), undefined);
  });

  it('is seeded from a record, a Map or another store (secret marks included)', () => {
    const a = new VariableStore({ TSID: 'x:1', Passcode: 'pw' });
    assert.equal(new VariableStore(new Map([['TSID', 'x:1']])).get('tsid'), 'x:1');
    const b = new VariableStore(a);
    a.markSecret('TSID');
    const c = new VariableStore(a);
    assert.equal(b.isSecret('TSID'), false);
    assert.equal(c.isSecret('TSID'), true);
    assert.equal(c.isSecret('PASSCODE'), true);
  });

  it('remembers secret variables: by name, by extra name, and by explicit mark', () => {
    const store = new VariableStore({}, { extraSecretNames: ['DomainJoinPassword'] });
    store.set('Passcode', 'hunter2');
    store.set('DEPLOYRTOKEN', 'eyJhbGciOi.token');
    store.set('DomainJoinPassword', 'P@ssw0rd');
    store.set('ApiKey', 'k-123', { secret: true });
    store.set('TSID', 'b09560a1-ae6d-48c2-b3d1-5177ee89a53f:1');
    store.set('EmptySecret', '', { secret: true });
    assert.deepEqual(store.secretValues().sort(), ['P@ssw0rd', 'eyJhbGciOi.token', 'hunter2', 'k-123']);
    assert.equal(store.isSecret('apikey'), true);
    assert.equal(store.isSecret('TSID'), false);
    assert.equal(store.redact('token eyJhbGciOi.token, key k-123, ts b09560a1'), 'token ********, key ********, ts b09560a1');
  });

  it('toJSON (and so JSON.stringify) redacts secrets; toRecord keeps them', () => {
    const store = new VariableStore({ Passcode: 'hunter2', TSID: 'id:1' });
    const text = JSON.stringify(store);
    assert.equal(text.includes('hunter2'), false);
    assert.deepEqual(JSON.parse(text), { Passcode: REDACTED, TSID: 'id:1' });
    assert.deepEqual(store.toRecord(), { Passcode: 'hunter2', TSID: 'id:1' });
  });

  it('expands placeholders from its variables', () => {
    const store = new VariableStore({ DEPLOYRHOST: 'https://h:7281' });
    assert.equal(store.expand('%DeployRHost%/v1/Service/Bootstrap'), 'https://h:7281/v1/Service/Bootstrap');
  });

  it('refuses invalid names and non-string values with INVALID_INPUT', () => {
    const store = new VariableStore();
    for (const bad of ['', 'A B', '%A%', 'A=B']) {
      assert.throws(() => store.set(bad, 'x'), (e: unknown) => isDeployrError(e, 'INVALID_INPUT'), bad);
    }
    assert.throws(() => store.set('A', 1 as unknown as string), (e: unknown) => isDeployrError(e, 'INVALID_INPUT'));
  });

  it('holds names like __proto__ as plain data', () => {
    const store = new VariableStore();
    store.set('__proto__', 'x').set('constructor', 'y');
    assert.equal(store.get('__PROTO__'), 'x');
    const record = store.toRecord();
    assert.equal(Object.getPrototypeOf(record), Object.prototype);
    assert.deepEqual(Object.keys(record), ['__proto__', 'constructor']);
    assert.equal(expandVariables('%__proto__%', store), 'x');
  });
});
