// The soak's fuzz phase: random methods, paths, parameters, headers, bodies, content types and slow clients over every route the service's OpenAPI document lists (admin ones too), with and without credentials.

import { readdirSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import fc from 'fast-check';
import { EXPORTS_DIR } from '../test/helpers/deployr-process.js';
import { signIn, type AdminClient } from '../test/helpers/admin-session.js';
import { deployr, startSoakService, stopCleanly } from './cli.js';
import { HOSTILE_CONTENT_TYPES, UNKNOWN_GUID, UNKNOWN_SHA, fillPath, fuzzedBodyArbitrary, fuzzedHeaderArbitrary, fuzzedSegmentArbitrary, hostileBodies, secretOfBody } from './hostile-requests.js';
import { loginBody, soakRequest, type SoakAnswer } from './https.js';
import { sampleRss, type RssFigures } from './memory.js';
import { loopbackAddress, seededRandom } from './random.js';

/** The fuzz phase's figures. */
export interface FuzzPhaseResult {
  requests: number;
  routes: number;
  adminRoutes: number;
  byStatus: Record<string, number>;
  serverErrors: number;
  hangs: number;
  /** Connections closed without an answer (not a hang: the service hung up). */
  unanswered: number;
  /** Requests sent again on a fresh connection after a reset of a reused kept-alive one. */
  retriedOnFreshConnection: number;
  /** 4xx answers (not HEAD) without the JSON error body. */
  badErrorBodies: number;
  /** Answers that echoed a passcode-like value from the request. */
  echoedSecrets: number;
  rss: RssFigures;
  /** The service's old-space cap in MiB, or null when it ran uncapped. */
  serviceHeapMiB: number | null;
  examples: string[];
  broken: string[];
  durationMs: number;
}

/** Options of the fuzz phase. */
export interface FuzzPhaseOptions {
  requests: number;
  seed: number;
  home: string;
  concurrency: number;
  timeoutMs: number;
  /** V8's old-space cap for the service, in MiB, or null for none (see SoakOptions.serviceHeapMiB). */
  serviceHeapMiB: number | null;
  log(line: string): void;
}

const PASSCODE = 'Heron-Granite-Lantern-31';
/** Runs at least this long are judged flat or not (a shorter one, like --quick, is still warming up). */
const FLAT_MEMORY_MIN_REQUESTS = 20_000;
const ADMIN_PASSWORD = 'Kestrel-Obsidian-Ferry-58';
const TS_ID = '80e8121b-c426-4bb9-866e-faf06af2c398';
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

interface Route { method: string; path: string; admin: boolean; body: boolean }

/** One generated request, before credentials are attached. */
interface FuzzCase {
  route: Route;
  method: string;
  param: string;
  query: string | null;
  auth: 'none' | 'token' | 'admin' | 'admin-no-csrf' | 'bogus';
  body: string | null;
  contentType: string | null;
  extraHeaders: Record<string, string>;
  slow: boolean;
}

/** Runs the fuzz phase. */
export async function runFuzzPhase(o: FuzzPhaseOptions): Promise<FuzzPhaseResult> {
  const started = performance.now();
  const random = seededRandom(o.seed);
  const broken: string[] = [];
  const must = async (args: string[], input = ''): Promise<void> => {
    const r = await deployr(o.home, args, input);
    if (r.code !== 0) throw new Error(`deployr ${args[0]} ${args[1] ?? ''} failed: ${r.stderr}`);
  };
  await must(['configure', 'security', '--passcode'], `${PASSCODE}\n${PASSCODE}\n`);
  await must(['ts', 'import', ...readdirSync(EXPORTS_DIR).filter((f) => f.startsWith('task-sequence-')).map((f) => join(EXPORTS_DIR, f))]);
  await must(['admin', 'add', 'soak-admin', '--role', 'admin'], `${ADMIN_PASSWORD}\n${ADMIN_PASSWORD}\n`);
  const heapCap: Record<string, string> = o.serviceHeapMiB === null ? {} : { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${o.serviceHeapMiB}`.trim() };
  const svc = await startSoakService({ home: o.home, env: { DEPLOYR_LOG_LEVEL: 'warn', ...heapCap } });
  const base = svc.url;
  try {
    const spec = await soakRequest({ port: svc.port, method: 'GET', path: '/v1/openapi.json' });
    const paths = (JSON.parse(spec.text) as { paths: Record<string, Record<string, { requestBody?: unknown }>> }).paths;
    const routes: Route[] = [];
    for (const [path, ops] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(ops)) routes.push({ method: method.toUpperCase(), path, admin: path.startsWith('/v1/admin'), body: op.requestBody !== undefined });
    }
    routes.push({ method: 'GET', path: '/v1/openapi.json', admin: false, body: false }, { method: 'GET', path: '/v1/no-such-route/{x}', admin: false, body: false });

    let token = '';
    let admin: AdminClient | null = null;
    const refresh = async (): Promise<void> => {
      const login = await soakRequest({ port: svc.port, method: 'POST', path: '/v1/auth/passcode', headers: { 'content-type': 'application/json' }, body: loginBody(PASSCODE, 'soak-fuzz'), localAddress: loopbackAddress(random, 5) });
      if (login.status === 200) token = (JSON.parse(login.text) as { token: string }).token;
      try { admin = await signIn(base, 'soak-admin', ADMIN_PASSWORD); } catch { admin = null; }
    };
    await refresh();
    if (!token || !admin) throw new Error('the fuzz phase could not sign in (passcode or administrator)');

    const bodies = hostileBodies(PASSCODE, TS_ID);
    const header = fuzzedHeaderArbitrary();
    const caseArb: fc.Arbitrary<FuzzCase> = fc.record({
      route: fc.constantFrom(...routes),
      method: fc.option(fc.constantFrom(...METHODS), { freq: 4, nil: null }),
      param: fc.oneof(fc.constantFrom(UNKNOWN_GUID, TS_ID, UNKNOWN_SHA, 'soak-admin', '1'), fuzzedSegmentArbitrary()),
      query: fc.option(fc.string({ maxLength: 80 }).map((q) => `${encodeURIComponent(q)}=${encodeURIComponent(q)}&limit=${encodeURIComponent(q)}`), { freq: 3, nil: null }),
      auth: fc.constantFrom('none', 'token', 'admin', 'admin', 'admin-no-csrf', 'bogus'),
      body: fc.oneof(fc.constant(null), fc.constant('{}'), fc.constantFrom(...bodies), fuzzedBodyArbitrary()),
      contentType: fc.oneof({ weight: 4, arbitrary: fc.constant('application/json') }, fc.constant(null), fc.constantFrom(...HOSTILE_CONTENT_TYPES)),
      extraHeaders: fc.oneof(
        { weight: 5, arbitrary: fc.constant({}) },
        fc.record({ range: header, 'if-none-match': header, 'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', '*', 'x'.repeat(2000)) }),
        fc.constant({ 'x-huge': 'h'.repeat(15 * 1024) }),
        fc.constant({ 'x-too-huge': 'h'.repeat(20 * 1024) }),
        fc.array(fc.tuple(fc.stringMatching(/^x-[a-z]{1,12}$/), header), { maxLength: 60 }).map((pairs) => Object.fromEntries(pairs)),
        fc.record({ origin: fc.constantFrom('https://evil.example', 'null', ''), 'sec-fetch-site': fc.constantFrom('cross-site', 'same-origin', 'none'), 'x-forwarded-for': fc.constantFrom('10.0.0.1', '::1', 'x') }),
        fc.record({ authorization: header, cookie: header }),
      ),
      slow: fc.boolean().chain((b) => (b ? fc.integer({ min: 0, max: 49 }).map((n) => n === 0) : fc.constant(false))),
    }) as fc.Arbitrary<FuzzCase>;

    const byStatus: Record<string, number> = {};
    const examples: string[] = [];
    let serverErrors = 0;
    let hangs = 0;
    let unanswered = 0;
    let badErrorBodies = 0;
    let echoedSecrets = 0;
    let sent = 0;
    let retried = 0;
    const rss = sampleRss(svc.child.pid as number);

    const note = (what: string): void => { if (examples.length < 20) examples.push(what.slice(0, 300)); };
    // Kept-alive connections (one source address per worker and batch), so the figure is requests, not TLS handshakes.
    const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency * 2, rejectUnauthorized: false });
    const one = async (c: FuzzCase, localAddress: string): Promise<void> => {
      const method = c.method ?? c.route.method;
      // Node's client cannot read the answer to a HEAD that carried a body (it reports the connection closed), though the service answers it: no body on HEAD.
      if (method === 'HEAD') c.body = null;
      let path = fillPath(c.route.path, c.param);
      if (c.query) path += `?${c.query}`;
      const headers: Record<string, string> = {};
      if (c.body !== null && c.contentType) headers['content-type'] = c.contentType;
      const a = admin as AdminClient | null;
      if (c.auth === 'token') headers.authorization = `Bearer ${token}`;
      if (c.auth === 'bogus') headers.authorization = `Bearer ${token.slice(0, -4)}AAAA`;
      if ((c.auth === 'admin' || c.auth === 'admin-no-csrf') && a) {
        headers.cookie = a.cookie;
        headers.origin = base;
        headers['sec-fetch-site'] = 'same-origin';
        if (c.auth === 'admin') headers['x-csrf-token'] = a.csrf;
      }
      Object.assign(headers, c.extraHeaders);
      const what = `${method} ${path.slice(0, 120)} auth=${c.auth} body=${(c.body ?? '-').slice(0, 40)} ct=${c.contentType}`;
      let answer: SoakAnswer;
      try {
        const send = (fresh: boolean): Promise<SoakAnswer> => soakRequest({
          port: svc.port, method, path, headers, localAddress, agent: fresh ? false : agent, timeoutMs: o.timeoutMs,
          ...(c.body !== null ? { body: c.body } : {}), ...(c.slow && c.body ? { slowPieces: 4, slowMs: 150 } : {}),
        });
        answer = await send(false);
        // A kept-alive connection the service closed meanwhile: sent again on a fresh one (what every HTTP client does).
        if (answer.status === 0 && answer.error !== 'timeout' && answer.reusedSocket) { retried++; answer = await send(true); }
      } catch (err) {
        // Node refused to send it (an invalid header for the client library): not the service's doing.
        byStatus['client-refused'] = (byStatus['client-refused'] ?? 0) + 1;
        void err;
        return;
      }
      sent++;
      const key = answer.status === 0 ? (answer.error === 'timeout' ? 'hang' : `closed (${answer.error ?? '?'})`) : String(answer.status);
      byStatus[key] = (byStatus[key] ?? 0) + 1;
      if (answer.status >= 500) { serverErrors++; note(`${answer.status} ← ${what} → ${answer.text.slice(0, 150)}`); }
      if (answer.error === 'timeout') { hangs++; note(`hang ← ${what}`); }
      else if (answer.status === 0) { unanswered++; if (unanswered <= 5) note(`closed unanswered (${answer.error}) ← ${what} headers ${Object.keys(c.extraHeaders).length} ${JSON.stringify(c.extraHeaders).length} B`); }
      if (answer.status >= 400 && answer.status < 500 && method !== 'HEAD') {
        let ok = false;
        try { const b = JSON.parse(answer.text) as { error?: { code?: unknown; message?: unknown } }; ok = typeof b.error?.code === 'string' && typeof b.error?.message === 'string'; } catch { ok = false; }
        if (!ok) { badErrorBodies++; note(`no JSON error body (${answer.status}) ← ${what}: ${answer.text.slice(0, 100)}`); }
      }
      const secret = c.body ? secretOfBody(c.body) : undefined;
      if (secret && secret.length >= 12 && answer.text.includes(secret)) { echoedSecrets++; note(`echoed a secret ← ${what}`); }
    };

    const batch = 1000;
    for (let done = 0; done < o.requests; done += batch) {
      const cases = fc.sample(caseArb, { seed: random.seed(), numRuns: Math.min(batch, o.requests - done) });
      let next = 0;
      const block = 4 + ((done / batch) % 200);
      await Promise.all(Array.from({ length: o.concurrency }, async (_, w) => {
        while (next < cases.length) await one(cases[next++] as FuzzCase, `127.${block}.0.${w + 1}`);
      }));
      await refresh();
      // Growth is measured from here: the first tenth warms the service up (JIT, caches, TLS sessions).
      if (done + batch >= o.requests / 10 && done < o.requests / 10) rss.warm();
      if ((done + batch) % 5000 === 0 || done + batch >= o.requests) o.log(`fuzz: ${Math.min(done + batch, o.requests)}/${o.requests} requests, ${serverErrors} ≥500, ${hangs} hangs, RSS ${JSON.stringify(rss.figures())}`);
    }
    rss.stop();
    agent.destroy();
    const figures = rss.figures();
    const health = await soakRequest({ port: svc.port, method: 'GET', path: '/v1/health' });
    if (health.status !== 200) broken.push(`the service stopped serving after the fuzz (health ${health.status} ${health.error ?? ''})`);
    if (serverErrors > 0) broken.push(`${serverErrors} answers ≥ 500 (first: ${examples.find((e) => /^5\d\d/.test(e)) ?? '?'})`);
    if (hangs > 0) broken.push(`${hangs} requests not answered within ${o.timeoutMs} ms`);
    if (badErrorBodies > 0) broken.push(`${badErrorBodies} 4xx answers without the JSON error body`);
    if (echoedSecrets > 0) broken.push(`${echoedSecrets} answers echoed a passcode-like value`);
    if (figures.growthPercent > 50) broken.push(`RSS grew ${figures.growthPercent}% after the warm-up (${figures.warmMiB} → ${figures.lastMiB} MiB)`);
    // Flat: over a run long enough to pass the warm-up, the second half never climbs more than 10 % above the first half's peak.
    if (sent >= FLAT_MEMORY_MIN_REQUESTS && figures.lateGrowthPercent > 10) broken.push(`RSS still climbing: the second half's peak is ${figures.lateGrowthPercent}% above the first half's (${figures.firstHalfMaxMiB} → ${figures.secondHalfMaxMiB} MiB)`);
    const verify = await deployr(o.home, ['audit', 'verify']);
    if (verify.code !== 0) broken.push('the audit chain does not verify after the fuzz');
    broken.push(...(await stopCleanly(svc, 'after the fuzz, the service')));
    return {
      requests: sent, routes: routes.length, adminRoutes: routes.filter((r) => r.admin).length, byStatus, serverErrors, hangs, unanswered, retriedOnFreshConnection: retried, badErrorBodies, echoedSecrets,
      rss: figures, serviceHeapMiB: o.serviceHeapMiB, examples, broken, durationMs: performance.now() - started,
    };
  } finally {
    if (svc.child.exitCode === null) await svc.kill();
  }
}
