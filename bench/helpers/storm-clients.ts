// Benchmark helper process: a share of the boot storm's clients; each logs in with the passcode over a fresh TLS connection when told to go.

import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

/** One client's outcome. */
export interface StormLogin {
  ms: number;
  status: number;
  tries: number;
  /** True when the TLS session was resumed (must never be: every client does a full handshake). */
  resumed: boolean;
  /** Which of the given URLs (nodes) this client logged in at. */
  node: number;
  /** Connections that failed before an answer (ECONNRESET and the like) and were retried; 0 normally. */
  connectionErrors: number;
  /** The code of the last connection error (ECONNRESET, …), when there was one; with status 0 the client gave up on it. */
  lastError?: string;
  /** Answers 429 (throttled or busy) waited out and retried. */
  throttledRetries: number;
}

/** What the process reports when its clients are all done. */
export interface StormReport {
  logins: StormLogin[];
  /** CPU (user + system, ms) this process spent on its clients. */
  cpuMs: number;
  /** The body (its first 300 characters) of the first answer other than 200 and 429, if any: the service's error code and message. */
  firstFailure?: string;
}

let firstFailure: string | undefined;

/**
 * Arguments: URL[,URL…] CA_FILE PASSCODE FIRST_OCTET FROM TO [MAX_CONNECTING]. Client `i` (FROM ≤ i < TO)
 * logs in at URL number `i mod URLs` from 127.FIRST_OCTET.y.z, its own address. MAX_CONNECTING (0 or
 * absent: no bound) bounds the logins this process has in flight at once, the rest waiting their turn.
 */
const [urlsText, caFile, passcode, firstOctetText, fromText, toText, maxConnectingText] = process.argv.slice(2);
if (!urlsText || !caFile || !passcode || !firstOctetText || !fromText || !toText) throw new Error('usage: storm-clients.js URL[,URL…] CA_FILE PASSCODE FIRST_OCTET FROM TO [MAX_CONNECTING]');
const urls = urlsText.split(',');
const maxConnecting = Number(maxConnectingText ?? 0) > 0 ? Number(maxConnectingText) : Infinity;
/** Connection errors a client retries (at once, on a new connection) before giving up. */
const CONNECTION_RETRIES = 5;

/** A counting semaphore: at most `max` holders at once. */
function semaphore(max: number): { take(): Promise<void>; give(): void } {
  let held = 0;
  const waiting: (() => void)[] = [];
  return {
    take: () => (held < max ? (held++, Promise.resolve()) : new Promise<void>((r) => waiting.push(r))),
    give: () => { const next = waiting.shift(); if (next) next(); else held--; },
  };
}

/**
 * One client's login: a fresh TLS connection (a full handshake, never a resumed session) from its own
 * loopback address, retrying after Retry-After on 429, and at once on a connection error (counted).
 * The clients share one client-side TLS context (the trusted CA): 500 real machines each load their
 * own, but parsing the CA 500 times in one process took 300–400 ms before the last request was even sent.
 */
function login(secureContext: SecureContext, url: string, node: number, address: string, deviceId: string, slots: ReturnType<typeof semaphore>): Promise<StormLogin> {
  const started = performance.now();
  const body = JSON.stringify({ passcode, context: 'boot', deviceId });
  let resumed = false;
  let connectionErrors = 0;
  let throttledRetries = 0;
  let lastError: string | undefined;
  // https.request hands these to tls.connect, which takes `secureContext` (its type does not say so).
  const options: RequestOptions & { secureContext: SecureContext } = {
    method: 'POST', secureContext, agent: false, localAddress: address, servername: 'localhost',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  };
  const once = (): Promise<{ status: number; retryAfter: number }> => new Promise((resolve, reject) => {
    const req = request(`${url}/v1/auth/passcode`, options, (res) => {
      if ((res.socket as TLSSocket).isSessionReused()) resumed = true;
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => {
        if (res.statusCode === 200 && !(JSON.parse(text) as { token?: string }).token) reject(new Error('200 without a token'));
        if (res.statusCode !== 200 && res.statusCode !== 429) firstFailure ??= `${res.statusCode}: ${text.slice(0, 300)}`;
        resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 1) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return (async () => {
    await slots.take();
    try {
      for (let tries = 1; ; tries++) {
        let r: { status: number; retryAfter: number };
        try {
          r = await once();
        } catch (err) {
          connectionErrors += 1;
          lastError = (err as NodeJS.ErrnoException).code ?? 'error';
          if (connectionErrors > CONNECTION_RETRIES) return { ms: performance.now() - started, status: 0, tries, resumed, node, connectionErrors, throttledRetries, lastError };
          continue;
        }
        if (r.status !== 429 || throttledRetries >= 4) return { ms: performance.now() - started, status: r.status, tries, resumed, node, connectionErrors, throttledRetries, ...(lastError ? { lastError } : {}) };
        throttledRetries += 1;
        await new Promise((res) => setTimeout(res, r.retryAfter * 1000));
      }
    } finally {
      slots.give();
    }
  })();
}

const secureContext = createSecureContext({ ca: readFileSync(caFile, 'utf8') });
const firstOctet = Number(firstOctetText);
process.once('message', () => {
  const cpuBefore = process.cpuUsage();
  const slots = semaphore(maxConnecting);
  const indexes = Array.from({ length: Number(toText) - Number(fromText) }, (_, k) => Number(fromText) + k);
  void Promise.all(indexes.map((i) => login(secureContext, urls[i % urls.length] as string, i % urls.length,
    `127.${firstOctet}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`, `pc-${String(i).padStart(4, '0')}`, slots)))
    .then((logins) => {
      const cpu = process.cpuUsage(cpuBefore);
      const report: StormReport = { logins, cpuMs: Math.round((cpu.user + cpu.system) / 1000), ...(firstFailure ? { firstFailure } : {}) };
      process.send?.(report, () => process.disconnect?.());
    });
});
process.send?.('ready');
