// End to end: the serve banner (passcode advice, --home in its commands, one block), readable or JSON log lines, and the ports remembered in the home for configure check.

import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runDeployr, setPasscode, startService, tempHome, waitFor } from './helpers/deployr-process.js';

const { home, cleanup } = tempHome('deployr-banner-');
after(cleanup);

/**
 * The banner block: from "deployr VERSION is running." to the bootstrap line. It starts at that
 * line, not at the first "deployr " in the output: the no-passcode warning before it also names a
 * command, and a log line may land between the two (stderr and stdout are read as they arrive).
 */
function banner(output: string): string {
  const start = output.search(/deployr \S+ is running\./);
  const end = output.indexOf('sh bootstrap.sh', start);
  assert.ok(start >= 0 && end > start, output);
  return output.slice(start, end);
}

test('a first start: the banner says to set a passcode, names --home in its commands, is one block; logs are JSON lines off a terminal; the ports are remembered for configure check', async () => {
  const svc = await startService({ home });
  try {
    await waitFor(() => /"msg":"Server listening at/.test(svc.output()), 10_000, 'a JSON log line');
    const text = banner(svc.output());
    assert.match(text, /Sign-in methods: none yet/);
    assert.ok(text.includes(`Next: set a passcode (deployr configure security --home ${home} --passcode), import a task sequence (deployr ts import --home ${home} examples/hello-world.json),`), text);
    assert.doesNotMatch(text, /"level"/, 'no log line inside the banner');
    assert.ok(svc.output().includes(`WARNING: no authentication method is configured: clients cannot proceed, and no token is issued to anyone.\n         Set a passcode with:  deployr configure security --passcode --home ${home}\n`), 'the warning and its advice are one block');
    for (const line of svc.output().split('\n').filter((l) => l.startsWith('{'))) assert.equal(typeof (JSON.parse(line) as { msg: unknown }).msg, 'string');

    const file = join(home, 'service.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { port: number; localPort: number };
    assert.deepEqual([saved.port, saved.localPort], [svc.port, svc.localPort]);
    const check = await runDeployr(['configure', 'check', '--home', home], { env: { DEPLOYR_HOME: '' } });
    assert.match(check.stdout, new RegExp(`The service is running \\(pid \\d+, port ${svc.port},`), 'configure check finds the service on its random ports without --local-port');
    const viaParent = await runDeployr(['configure', '--local-port', '1', 'check'], { home });
    assert.match(viaParent.stdout, /nothing answers on 127\.0\.0\.1:1\)/, '--local-port given to configure is used by check');
  } finally {
    await svc.stop();
  }
  const stopped = await runDeployr(['configure', 'check'], { home });
  assert.equal(stopped.code, 1);
  const { localPort } = JSON.parse(readFileSync(join(home, 'service.json'), 'utf8')) as { localPort: number };
  assert.match(stopped.stdout, new RegExp(`The service is not running \\(nothing answers on 127\\.0\\.0\\.1:${localPort}\\)`));
});

test('a restart with a passcode set does not say to set one; --log-format pretty writes readable log lines', async () => {
  assert.equal((await setPasscode(home, 'Tangerine-Lighthouse-42')).code, 0);
  const svc = await startService({ home, args: ['--log-format', 'pretty'] });
  try {
    await waitFor(() => /^\d\d:\d\d:\d\d INFO {2}Server listening at https?:\/\/127\.0\.0\.1:\d+/m.test(svc.output()), 10_000, 'a readable log line');
    const text = banner(svc.output());
    assert.match(text, /Sign-in methods: passcode/);
    assert.doesNotMatch(text, /set a passcode/);
    assert.ok(text.includes(`Next: import a task sequence (deployr ts import --home ${home} examples/hello-world.json), check the service (deployr configure check --home ${home}),`), text);
    assert.doesNotMatch(svc.output(), /^\{"level"/m, 'no JSON lines');
  } finally {
    await svc.stop();
  }
  const bad = await runDeployr(['serve', '--home', home, '--log-format', 'xml', '--port', '0', '--local-port', '0']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--log-format must be json, pretty or auto \(the value given: 3 characters\)/);
});
