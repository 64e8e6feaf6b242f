// Unit tests for a custom step's options: effective settings, required and regex checks, and where the script comes from.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseStepDefinitionExport, type StepDefinitionVersion } from './step-definition.js';
import { checkOptions, resolveOptions, scriptContent, scriptKind } from './step-options.js';

const FIXTURES = new URL('../../../test/fixtures/deployr-exports/', import.meta.url);

function version(file: string): StepDefinitionVersion {
  const v = parseStepDefinitionExport(JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8'))).versions[0];
  assert.ok(v);
  return v;
}

const LOCKSCREEN = version('step-definition-be7ccba3-lockscreen.json');
const LOCAL_ADMIN = version('step-definition-67f3b9c9-local-admin.json');
const IMAGES = '11111111-2222-3333-4444-555555555555:2';

describe('resolveOptions', () => {
  it('overlays the step\'s settings (any case) on the defaults, keeps other settings, and takes content from slots or defaults', () => {
    const r = resolveOptions(LOCKSCREEN, { ScriptName: 'Other.ps1', BrandingLockScreenImageEnforce: 'true', Extra: 'x' }, { brandinglockscreenimageci: IMAGES });
    assert.deepEqual(r.settings, {
      StepDefsCI: 'd819ff51-72a1-4e3c-bdf3-fcb69cf1bbab:1',
      BrandingLockScreenImageFileName: 'lockscreen.png',
      BrandingLockScreenImageCI: IMAGES,
      scriptName: 'Other.ps1',
      BrandingLockScreenImageEnforce: 'true',
      Extra: 'x',
    });
    assert.deepEqual(r.content, [
      { name: 'StepDefsCI', reference: 'd819ff51-72a1-4e3c-bdf3-fcb69cf1bbab:1', hidden: true },
      { name: 'BrandingLockScreenImageCI', reference: IMAGES, hidden: false },
    ]);
    assert.deepEqual(r.script, { option: 'scriptName', value: 'Other.ps1' });
    assert.deepEqual(scriptContent(r), r.content[0], 'the hidden content option holds the script');
  });

  it('expands defaults with the given function, never the step\'s own (already expanded) settings', () => {
    const v: StepDefinitionVersion = { ...LOCKSCREEN, options: [{ ...LOCKSCREEN.options[1]!, defaultValue: '%Brand%.png' }] };
    const expand = (t: string): string => t.replace('%Brand%', 'acme');
    assert.equal(resolveOptions(v, {}, {}, expand).settings['BrandingLockScreenImageFileName'], 'acme.png');
    assert.equal(resolveOptions(v, { BrandingLockScreenImageFileName: '%Brand%.png' }, {}, expand).settings['BrandingLockScreenImageFileName'], '%Brand%.png');
  });

  it('an empty slot falls back to the default; a step setting of "" is kept', () => {
    const r = resolveOptions(LOCKSCREEN, { BrandingLockScreenImageFileName: '' }, { StepDefsCI: '' });
    assert.equal(r.settings['StepDefsCI'], 'd819ff51-72a1-4e3c-bdf3-fcb69cf1bbab:1');
    assert.equal(r.settings['BrandingLockScreenImageFileName'], '');
  });
});

describe('checkOptions', () => {
  it('passes the defaults of a complete step', () => {
    assert.equal(checkOptions(LOCKSCREEN, resolveOptions(LOCKSCREEN, {}, { BrandingLockScreenImageCI: IMAGES })), null);
  });

  it('names a required content option without a content item', () => {
    assert.equal(checkOptions(LOCKSCREEN, resolveOptions(LOCKSCREEN, {}, {})),
      'required option "BrandingLockScreenImageCI" (Content Item with Images) has no content item: set the step\'s content slot "BrandingLockScreenImageCI"');
  });

  it('names a required option left empty', () => {
    assert.equal(checkOptions(LOCAL_ADMIN, resolveOptions(LOCAL_ADMIN, { ConfigUserName: ' ' }, {})), 'required option "ConfigUserName" (User Name:) has no value');
  });

  it('names the option and the rule\'s error message when a value fails its regex', () => {
    const problem = checkOptions(LOCKSCREEN, resolveOptions(LOCKSCREEN, { BrandingLockScreenImageFileName: 'lock.jpg' }, { BrandingLockScreenImageCI: IMAGES }));
    assert.equal(problem, 'option "BrandingLockScreenImageFileName" (Filename of Lock Screen Image): Ensure the image you specify is in .png format (validation rule \\.png$)');
  });

  it('says when a rule cannot be compiled here', () => {
    const v: StepDefinitionVersion = { ...LOCKSCREEN, options: [{ ...LOCKSCREEN.options[1]!, validations: [{ regexRule: '(?i)\\.png$', errorMessage: 'png only' }] }] };
    assert.match(checkOptions(v, resolveOptions(v, {}, {})) ?? '', /^option "BrandingLockScreenImageFileName" .*: its validation rule \(\?i\)\\\.png\$ cannot be checked by this client/);
  });
});

describe('scriptKind', () => {
  it('one line ending in .ps1 is a file; anything else is inline', () => {
    assert.equal(scriptKind('Set-LockScreenImage.ps1'), 'file');
    assert.equal(scriptKind(' Scripts/Check.PS1 '), 'file');
    assert.equal(scriptKind('Write-Output hi'), 'inline');
    assert.equal(scriptKind(LOCAL_ADMIN.options.find((o) => o.type === 'Script')?.defaultValue ?? ''), 'inline');
    assert.equal(scriptKind('# run it\r\n& .\\x.ps1'), 'inline');
  });
});
