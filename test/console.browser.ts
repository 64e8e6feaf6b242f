// The web console in a real Chromium (Debian's, driven by playwright-core; no browser is downloaded): sign in, import, a live run, rotation, text-only names.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, runDeployr, setPasscode, startService, tempHome, type CommandResult, type ServiceProcess } from './helpers/deployr-process.js';
import { step, taskSequence } from './helpers/task-sequence-json.js';

const CHROMIUM = '/usr/bin/chromium';
const RUN_COMMAND_LINE = '00000002-0000-0000-0000-000000000001';
const OLD_PASSCODE = 'Heron-Meadow-Lantern-31';
const NEW_PASSCODE = 'Velvet-Granite-Ferry-83';
const PASSWORD = 'Copper-Harbour-Kettle-58';
const HOSTILE = '<img src=x onerror=alert(1)>';
/** Screenshots of every page, for people to look at (git-ignored). */
const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'console-browser');

describe('web console in Chromium', { skip: existsSync(CHROMIUM) || process.env.CI ? false : `${CHROMIUM} is not installed (apt-get install chromium)` }, () => {
  const { home, cleanup } = tempHome('deployr-console-');
  const work = mkdtempSync(join(tmpdir(), 'deployr-console-work-'));
  let service: ServiceProcess;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  /** Accept the next confirmation (a revoke); every other dialog is unexpected and recorded. */
  let acceptConfirm = false;
  const live = taskSequence('Live progress', [
    step('First step', RUN_COMMAND_LINE, { CommandLine: 'sleep 2' }),
    step('Second step', RUN_COMMAND_LINE, { CommandLine: 'sleep 2' }),
    step('Third step', RUN_COMMAND_LINE, { CommandLine: 'sleep 2' }),
  ]);
  const hostile = taskSequence(HOSTILE, [step('<script>alert(2)</script>', RUN_COMMAND_LINE, { CommandLine: 'true' })]);
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const client = (passcode: string): Promise<CommandResult> => runDeployr(['client', '--server', service.url, '--ca', service.caFile, '--fullos', '--ts', `${live.id as string}:1`],
    { env: { DEPLOYR_VAR_Passcode: passcode, DEPLOYR_HOME: join(work, 'nowhere') }, timeoutMs: 120_000 });
  const go = async (hash: string, ready: string): Promise<void> => {
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
    await page.waitForSelector(ready);
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    assert.equal((await setPasscode(home, OLD_PASSCODE)).code, 0);
    assert.equal((await runDeployr(['admin', 'add', 'alice', '--role', 'admin'], { home, input: `${PASSWORD}\n${PASSWORD}\n` })).code, 0);
    service = await startService({ home });
    writeFileSync(join(work, 'live.json'), JSON.stringify(live));
    writeFileSync(join(work, 'hostile.json'), JSON.stringify(hostile));
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM, headless: true, ignoreHTTPSErrors: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? await context.newPage();
    page.on('dialog', (d) => {
      if (acceptConfirm && d.type() === 'confirm') { acceptConfirm = false; void d.accept(); return; }
      dialogs.push(d.message()); void d.dismiss();
    });
  });

  after(async () => {
    await context?.close();
    await service?.stop();
    cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('sign in; the console answers with its security headers', async () => {
    const res = await page.goto(`${service.url}/console/`);
    const headers = res?.headers() ?? {};
    assert.match(headers['content-security-policy'] ?? '', /script-src 'self'/);
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.doesNotMatch(headers['content-security-policy'] ?? '', /unsafe-inline|unsafe-eval/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    await page.waitForSelector('form.sign-in');
    await shot('sign-in');
    await page.fill('input[name=name]', 'alice');
    await page.fill('input[name=password]', 'Not-The-Password-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('form.sign-in .message:text("Authentication failed.")');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('nav a[data-page=administrators]');
    const cookies = await context.cookies(service.url);
    const cookie = cookies.find((c) => c.name === 'deployr_admin');
    assert.ok(cookie && cookie.httpOnly && cookie.secure && cookie.sameSite === 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is not readable from script');
    await shot('dashboard-empty');
  });

  test('import task sequences by upload; a hostile name shows as text and runs no script', async () => {
    await go('#/task-sequences', 'input[name=import]');
    for (const file of ['live.json', 'hostile.json']) {
      await page.setInputFiles('input[name=import]', join(work, file));
      await page.click('form.inline button[type=submit]');
      await page.waitForSelector(`.message.ok:text("Imported")`);
      await page.waitForSelector(`a[data-ts="${(file === 'live.json' ? live.id : hostile.id) as string}"]`);
    }
    const shown = await page.textContent(`a[data-ts="${hostile.id as string}"]`);
    assert.equal(shown, HOSTILE);
    assert.equal(await page.locator('main img').count(), 0, 'no element was made from the name');
    await shot('task-sequences');
    await go(`#/task-sequences/${hostile.id as string}`, 'ul.tree');
    assert.equal(await page.textContent('ul.tree .step-name'), '<script>alert(2)</script>');
    assert.equal(await page.locator('main script, main img').count(), 0);
    await go(`#/task-sequences/${live.id as string}`, 'ul.tree');
    await shot('task-sequence-detail');
    assert.deepEqual(dialogs, [], 'no script ran');
  });

  test('a real client run appears on the dashboard, advances step by step and finishes, without a reload', async () => {
    await go('#/dashboard', 'section[data-live=open]');
    await page.evaluate('window.noReload = true');
    const running = client(OLD_PASSCODE);
    const seen = new Set<string>();
    const rowText = () => page.evaluate("[...document.querySelectorAll('tr[data-run]')].map((tr) => tr.dataset.status + '|' + tr.textContent).join('\\n')") as Promise<string>;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const text = await rowText();
      for (const name of ['First step', 'Second step', 'Third step']) if (text.includes(`running|Live progress`) && text.includes(name)) seen.add(name);
      if (text.includes('succeeded|Live progress')) break;
      if (seen.size === 2) await shot('dashboard-live');
      assert.ok(Date.now() < deadline, `the run did not finish on the dashboard: ${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(seen.size >= 2, `the dashboard showed the run advancing (saw ${[...seen].join(', ')})`);
    assert.equal(await page.evaluate('window.noReload'), true, 'the page was not reloaded');
    await page.waitForSelector('[data-count=succeeded] dd:text-is("1")');
    await shot('dashboard-finished');
    await page.click('tr[data-run] a');
    await page.waitForSelector('pre.log');
    assert.equal(await page.locator('main tbody tr').count(), 3);
    await shot('run-detail');
    await go('#/runs', 'main table');
    await shot('runs');
  });

  test('rotate the passcode on the Security page: the client is refused with the old one and works with the new', async () => {
    await go('#/security', 'input[name=verify]');
    await shot('security');
    await page.fill('input[name=passcode]', NEW_PASSCODE);
    await page.fill('input[name=verify]', NEW_PASSCODE);
    await page.fill('input[name=overlap]', '0');
    await page.click('form.stack button[type=submit]');
    await page.waitForSelector('.message.ok:text("Passcode saved")');
    assert.equal(await page.inputValue('input[name=passcode]'), '', 'the field is emptied');
    await page.waitForSelector('[data-passcode=set]:text("generation 2")');
    const old = await client(OLD_PASSCODE);
    assert.notEqual(old.code, 0, 'the old passcode is refused');
    assert.match(old.stderr, /Passcode variable was not accepted/);
    const fresh = await client(NEW_PASSCODE);
    assert.equal(fresh.code, 0, fresh.stderr);
  });

  test('Passcodes page: a generated scoped passcode is shown once, runs its task sequence with the real client, and is refused once revoked', async () => {
    await go('#/passcodes', 'form[aria-label="Add a scoped passcode"]');
    await page.fill('input[name=name]', 'phone-tech');
    await page.fill('input[name=taskSequences]', `${live.id as string}`);
    await page.fill('input[name=uses]', '5');
    await page.click('form[aria-label="Add a scoped passcode"] button[type=submit]');
    await page.waitForSelector('p.passcode code');
    const generated = (await page.textContent('p.passcode code')) ?? '';
    assert.match(generated, /^[A-Z2-9]{4}(-[A-Z2-9]{4}){5}$/);
    await shot('passcodes-generated');
    await page.click('text=I have noted it: hide');
    await page.waitForSelector('p.passcode', { state: 'detached' });
    assert.ok(!(await page.content()).includes(generated), 'hidden from the page once noted');
    const ran = await client(generated);
    assert.equal(ran.code, 0, ran.stderr);
    await go('#/audit', 'main table');
    await go('#/passcodes', 'main table');
    await page.waitForSelector('td:text-is("4 of 5")');
    acceptConfirm = true;
    await page.click('button:text("Revoke")');
    await page.waitForSelector('.message.ok:text("Revoked phone-tech.")');
    await page.waitForSelector('td:text-is("revoked")');
    await shot('passcodes');
    const refused = await client(generated);
    assert.notEqual(refused.code, 0, 'a revoked passcode is refused');
  });

  test('the other pages draw (screenshots for review)', async () => {
    await go('#/content', 'form.filters');
    await page.fill('input[name=name]', 'Driver <b>pack</b>');
    await page.click('form.filters button[type=submit]');
    await page.waitForSelector('input[name=file]');
    writeFileSync(join(work, 'payload.bin'), Buffer.alloc(256 * 1024, 7));
    await page.setInputFiles('input[name=file]', join(work, 'payload.bin'));
    await page.click('form.inline button[type=submit]');
    await page.waitForSelector('.message.ok:text("Uploaded version 1")');
    assert.equal(await page.textContent('h1'), 'Driver <b>pack</b>');
    await shot('content-item');
    await go('#/audit', 'main table');
    await page.click('text=Verify the chain');
    await page.waitForSelector('[data-chain=ok]');
    await shot('audit');
    await go('#/administrators', 'main table');
    await shot('administrators');
    // Boot media: nothing published in this home and no build started (a real build takes minutes: test/boot/).
    await go('#/media', '[data-published=no]');
    await page.waitForSelector('[data-job=none]');
    assert.equal(await page.inputValue('input[name=server]'), new URL(page.url()).origin);
    await shot('boot-media');
    assert.deepEqual(dialogs, []);
  });
});

