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
}

/** What the process reports when its clients are all done. */
export interface StormReport {
  logins: StormLogin[];
  /** CPU (user + system, ms) this process spent on its clients. */
  cpuMs: number;
}

const [url, caFile, passcode, firstOctetText, fromText, toText] = process.argv.slice(2);
if (!url || !caFile || !passcode || !firstOctetText || !fromText || !toText) throw new Error('usage: storm-clients.js URL CA_FILE PASSCODE FIRST_OCTET FROM TO');

/**
 * One client's login: a fresh TLS connection (a full handshake, never a resumed session) from its own
 * loopback address, retrying after Retry-After on 429. The clients share one client-side TLS context
 * (the trusted CA): 500 real machines each load their own, but parsing the CA 500 times in one
 * process took 300–400 ms before the last request was even sent.
 */
function login(secureContext: SecureContext, address: string, deviceId: string): Promise<StormLogin> {
  const started = performance.now();
  const body = JSON.stringify({ passcode, context: 'boot', deviceId });
  let resumed = false;
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
        resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 1) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  return (async () => {
    for (let tries = 1; ; tries++) {
      const r = await once();
      if (r.status !== 429 || tries >= 5) return { ms: performance.now() - started, status: r.status, tries, resumed };
      await new Promise((res) => setTimeout(res, r.retryAfter * 1000));
    }
  })();
}

const secureContext = createSecureContext({ ca: readFileSync(caFile, 'utf8') });
const firstOctet = Number(firstOctetText);
process.once('message', () => {
  const cpuBefore = process.cpuUsage();
  const indexes = Array.from({ length: Number(toText) - Number(fromText) }, (_, k) => Number(fromText) + k);
  void Promise.all(indexes.map((i) => login(secureContext, `127.${firstOctet}.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`, `pc-${String(i).padStart(4, '0')}`)))
    .then((logins) => {
      const cpu = process.cpuUsage(cpuBefore);
      const report: StormReport = { logins, cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
      process.send?.(report, () => process.disconnect?.());
    });
});
process.send?.('ready');
