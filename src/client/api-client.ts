// The client's HTTPS connection to the service: one server or several in order (failing over), verified TLS (a CA file or a pinned fingerprint), JSON requests, one-line errors.

import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import type { ErrorBody } from '../api/contract.js';
import { ClientError } from './client-error.js';
import { parseServerList } from './server-list.js';

export { ClientError };

/** Network errors after which nothing reached the server: a request may always be sent again. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
/** Network errors after which the server may have seen the request: sent again only for GET. */
const MAYBE_SENT = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE']);
/** Waits between attempts while the server is unreachable, in seconds (the last one repeats). */
const BACKOFF_SECONDS = [1, 2, 4, 8, 15, 30];

/** How long the client keeps trying an unreachable server, and where it says so. */
export interface Patience {
  /** In milliseconds; 0 = fail at once. */
  totalMs: number;
  /** Told before each wait (`Server unreachable …, retrying in 2 s`) and when the server answers again. */
  notice(line: string): void;
  sleep?: (ms: number) => Promise<void>;
}

/** `10 min`, `45 s`. */
function shortDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 120 ? `${Math.round(s / 60)} min` : `${s} s`;
}

/** A request that failed on a reused keep-alive connection before any answer (retried once). */
class StaleConnectionError extends Error {}

/** How the client decides to trust the server, and which certificate it presents (if any). */
export interface ServerTrust {
  /** PEM of the CA (or the service's self-signed certificate) to trust. */
  caPem?: string;
  /** SHA-256 fingerprint of the server's certificate (hex, colons optional). */
  fingerprint?: string;
  /** A client certificate for certificate authentication. */
  clientCert?: { cert: string; key: string } | { pfx: Buffer; passphrase?: string };
}

/** An HTTP answer. */
export interface ApiResponse<T> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'UNABLE_TO_GET_ISSUER_CERT', 'FINGERPRINT_MISMATCH',
]);

function normalizeFingerprint(f: string): string {
  return f.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** Turns a connection error into a one-line ClientError. */
function explain(err: NodeJS.ErrnoException, url: URL): ClientError {
  const code = err.code ?? '';
  if (UNTRUSTED_CODES.has(code)) {
    return new ClientError('UNTRUSTED', `The server's certificate at ${url.host} is not trusted (${code}). Pass --ca FILE (for example the service's tls/server.crt) or --fingerprint SHA256 (printed when the service starts).`);
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE'].includes(code)) {
    return Object.assign(new ClientError('UNREACHABLE', `Cannot reach the server at ${url.origin} (${code}). Check the address and that the service is running.`), { errno: code });
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('EPROTO')) {
    return new ClientError('UNTRUSTED', `TLS with ${url.origin} failed (${code}). Is this the deployr HTTPS port?`);
  }
  return new ClientError('UNREACHABLE', `Request to ${url.origin} failed: ${err.message.split('\n')[0]}`);
}

/** A streamed answer: read `body` to the end, or destroy it. */
export interface DownloadResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/** One server of the list and the TLS options its requests use. */
interface Endpoint {
  url: URL;
  options: RequestOptions;
  /** False until a pinned fingerprint has been checked against this server (true at once without a pin). */
  ready: boolean;
  /** This server has answered at least once (losing it is then "stopped answering"). */
  answered: boolean;
}

/** What may be sent again, to this server or the next: GET always; a POST only where the server treats a repeat as the same report. */
interface RetryRule {
  method: 'GET' | 'POST';
  /** A POST the server may receive twice without harm (a step report, a heartbeat, the end of a run). */
  idempotent: boolean;
  /** False: fail (or move to the next server) at once, without waiting. */
  patient: boolean;
}

/** Answers that mean "this server did not serve the request" rather than an answer to it (502 and 504 only where a repeat is safe). */
function unansweredStatus(status: number, rule: RetryRule): string | null {
  if (status === 503 || ((status === 502 || status === 504) && (rule.method === 'GET' || rule.idempotent))) return `HTTP ${status}`;
  return null;
}

/** The network error behind a failure, when the request may be sent again (to this server or the next); null otherwise. */
function unansweredError(err: unknown, rule: RetryRule): string | null {
  const errno = err instanceof ClientError && err.code === 'UNREACHABLE' ? err.errno : undefined;
  if (errno === undefined) return null;
  return NEVER_SENT.has(errno) || ((rule.method === 'GET' || rule.idempotent) && MAYBE_SENT.has(errno)) ? errno : null;
}

/**
 * JSON over verified HTTPS to the service: one server, or several tried in order. While the
 * current server answers, every request goes to it (pinned); when it stops answering (connection
 * refused, reset or timed out; 502, 503, 504) the request moves to the next one, which stays the
 * current one from then on. A 4xx (401, 403, 429 …) is an answer and never moves anything; nor
 * does an untrusted certificate (waiting or moving does not make a wrong server the right one).
 */
export class ApiClient {
  private patience: Patience | null = null;
  /** Where the line about moving to another server goes while no patience is set. */
  private announce: ((line: string) => void) | null = null;
  /** The --ca PEM, to say what it holds when the server's certificate does not match it. */
  private caGiven: string | null = null;
  private current = 0;

  private constructor(private readonly endpoints: Endpoint[], private readonly pin: string | null, private readonly timeoutMs: number) {}

  /** The server requests go to now. */
  get baseUrl(): URL {
    return (this.endpoints[this.current] as Endpoint).url;
  }

  /** Every server, in the order given. */
  get servers(): URL[] {
    return this.endpoints.map((e) => e.url);
  }

  /** Tells `say` when requests move to another server (while a run's patience is set, its notice is told instead). */
  onServerChange(say: ((line: string) => void) | null): void {
    this.announce = say;
  }

  /**
   * A server certificate the --ca file does not vouch for: names the certificate the server
   * presented (subject and SHA-256 fingerprint) and what the file holds, instead of the same
   * message as when no --ca was given.
   */
  private async untrustedByCa(err: ClientError, url: URL): Promise<ClientError> {
    if (this.caGiven === null || err.code !== 'UNTRUSTED') return err;
    const presented = await fetchPeerCertificate(url, 10_000).catch(() => null);
    if (!presented) return err;
    let inFile = 'a certificate';
    try {
      const ca = new X509Certificate(this.caGiven);
      inFile = `"${oneLine(ca.subject)}" (SHA-256 ${ca.fingerprint256})`;
    } catch { /* described generically */ }
    return new ClientError('UNTRUSTED', `The server's certificate at ${url.host} is not trusted: it presented "${oneLine(presented.subject)}" (SHA-256 ${presented.fingerprint256}), which does not match the --ca file: it holds ${inFile}, which neither is nor issued the server's certificate. Pass the service's own tls/server.crt (or its CA), or --fingerprint with the fingerprint printed when the service starts.`);
  }

  /**
   * From now on, a request no server answered because none could be reached is tried again with
   * growing waits (1, 2, 4 … 30 s) for `patience.totalMs` in all; null turns it off. With several
   * servers, each wait comes after every server was tried once.
   */
  setPatience(patience: Patience | null): void {
    this.patience = patience;
  }

  /** With a pinned fingerprint: one handshake (sending nothing) checks the server's certificate before its first request. */
  private async prepare(ep: Endpoint): Promise<void> {
    if (ep.ready || this.pin === null) return;
    const pin = this.pin;
    const pem = await fetchPeerCertificate(ep.url, this.timeoutMs);
    if (normalizeFingerprint(pem.fingerprint256) !== pin) {
      throw new ClientError('UNTRUSTED', `The server's certificate at ${ep.url.host} does not match the fingerprint given (it has ${pem.fingerprint256}); not connecting.`);
    }
    ep.options.ca = pem.toString();
    ep.options.checkServerIdentity = (_host: string, cert: PeerCertificate) =>
      normalizeFingerprint(cert.fingerprint256) === pin ? undefined : Object.assign(new Error('fingerprint mismatch'), { code: 'FINGERPRINT_MISMATCH' });
    ep.ready = true;
  }

  /**
   * Runs `attempt` against the current server; when that server does not serve it (see `RetryRule`
   * and `unserved`), against the next, and so on once round the list. When no server served it:
   * with patience, waits (1, 2, 4 … 30 s) and goes round again until the patience runs out;
   * without, throws the last failure (or returns the last answer, e.g. a 503, as it is).
   */
  private async patiently<T>(rule: RetryRule, attempt: (ep: Endpoint) => Promise<T>, unserved: (result: T) => string | null = () => null, discard: (result: T) => void = () => undefined): Promise<T> {
    const patience = rule.patient ? this.patience : null;
    const say = (line: string): void => (this.patience?.notice ?? this.announce ?? (() => undefined))(line);
    const started = Date.now();
    const count = this.endpoints.length;
    let waits = 0;
    let round: { ep: Endpoint; reason: string }[] = [];
    // This call's own position: requests running at the same time may each find a server gone.
    let at = this.current;
    for (;;) {
      const ep = this.endpoints[at] as Endpoint;
      let reason: string | null;
      let failure: { error: unknown } | { result: T };
      try {
        await this.prepare(ep);
        const result = await attempt(ep);
        reason = unserved(result);
        if (reason === null) {
          ep.answered = true;
          this.current = at;
          if (waits > 0) patience?.notice(count > 1 ? `The server ${ep.url.origin} answers; carrying on.` : 'The server answers again; carrying on.');
          return result;
        }
        failure = { result };
      } catch (err) {
        reason = unansweredError(err, rule);
        if (reason === null) throw err;
        failure = { error: err };
      }
      round.push({ ep, reason });
      if (round.length < count) {
        if ('result' in failure) discard(failure.result);
        const untried = (i: number): boolean => !round.some((r) => r.ep === this.endpoints[i]);
        let next = (at + 1) % count;
        while (!untried(next)) next = (next + 1) % count;
        if (this.current === at) {
          this.current = next;
          // One line per move; while everything is down, the wait lines below say it instead.
          const to = (this.endpoints[next] as Endpoint).url.origin;
          if (waits === 0) say(ep.answered ? `Server ${ep.url.origin} stopped answering (${reason}); moving to ${to}.` : `Server ${ep.url.origin} does not answer (${reason}); trying ${to}.`);
        } else if (untried(this.current)) {
          // Another request has moved on already: follow it.
          next = this.current;
        }
        at = next;
        continue;
      }
      const elapsed = Date.now() - started;
      if (!patience || elapsed >= patience.totalMs) {
        if ('result' in failure) return failure.result;
        if (count > 1) {
          const all = round.map((r) => `${r.ep.url.origin} ${r.reason}`).join(', ');
          const tail = patience && waits > 0 ? `; gave up after ${shortDuration(elapsed)} (the patience is ${shortDuration(patience.totalMs)}: --patience or DEPLOYR_CLIENT_PATIENCE).` : '. Check the addresses and that the service is running.';
          throw Object.assign(new ClientError('UNREACHABLE', `Cannot reach any of the ${count} servers (${all})${tail}`), { errno: reason });
        }
        if (patience && waits > 0) throw Object.assign(new ClientError('UNREACHABLE', `Cannot reach the server at ${ep.url.origin} (${reason}); gave up after ${shortDuration(elapsed)} (the patience is ${shortDuration(patience.totalMs)}: --patience or DEPLOYR_CLIENT_PATIENCE).`), { errno: reason });
        throw failure.error;
      }
      if ('result' in failure) discard(failure.result);
      const wait = Math.min((BACKOFF_SECONDS[Math.min(waits, BACKOFF_SECONDS.length - 1)] ?? 30) * 1000, Math.max(1000, patience.totalMs - elapsed));
      waits += 1;
      patience.notice(count > 1
        ? `No server answers (${round.map((r) => `${r.ep.url.origin} ${r.reason}`).join(', ')}), retrying in ${shortDuration(wait)}; giving up after ${shortDuration(patience.totalMs)} without an answer.`
        : `Server unreachable (${reason}), retrying in ${shortDuration(wait)}; giving up after ${shortDuration(patience.totalMs)} without an answer.`);
      await (patience.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))))(wait);
      round = [];
      // The next round starts at the server the client is on now (the one after the last tried).
      this.current = (at + 1) % count;
      at = this.current;
    }
  }

  /**
   * Connects to `server`: one address, or several (an array, or entries separated by commas) tried
   * in that order. Addresses are checked here (a bad one is a one-line INPUT error); nothing is
   * sent until the first request. With a fingerprint, a first handshake with each server (sending
   * nothing) fetches its certificate and compares it; its requests then trust exactly that
   * certificate. The same trust (CA, fingerprint, client certificate) applies to every server.
   */
  static async connect(server: string | readonly string[], trust: ServerTrust, timeoutMs = 10_000): Promise<ApiClient> {
    const urls = parseServerList(typeof server === 'string' ? [server] : server);
    let pin: string | null = null;
    if (trust.fingerprint) {
      pin = normalizeFingerprint(trust.fingerprint);
      if (pin.length !== 64) throw new ClientError('INPUT', '--fingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed).');
    }
    const endpoints = urls.map((url): Endpoint => {
      const options: RequestOptions = { timeout: timeoutMs };
      if (trust.clientCert) Object.assign(options, trust.clientCert);
      if (!trust.fingerprint && trust.caPem) options.ca = trust.caPem;
      return { url, options, ready: pin === null, answered: false };
    });
    const api = new ApiClient(endpoints, pin, timeoutMs);
    if (!trust.fingerprint && trust.caPem) api.caGiven = trust.caPem;
    return api;
  }

  /**
   * Sends a JSON request and parses the JSON answer (any status). A server that does not serve it
   * is left for the next one (see the class); while patience is set (and `patient` is not false),
   * no server answering is waited out (see `setPatience`). `idempotent` marks a POST the server
   * may receive twice without harm, so that it is sent again after a connection reset as well.
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string, options: { patient?: boolean; idempotent?: boolean } = {}): Promise<ApiResponse<T>> {
    const rule: RetryRule = { method, idempotent: options.idempotent === true, patient: options.patient !== false };
    return this.patiently(rule, async (ep) => {
      try {
        return await this.requestOnce<T>(ep, method, path, body, token);
      } catch (err) {
        // A kept-alive connection the server closed meanwhile (idle, or after a trust change) fails
        // before the request is read: sending it once more on a new connection is safe.
        if (err instanceof StaleConnectionError) return this.requestOnce<T>(ep, method, path, body, token);
        if (err instanceof ClientError) throw await this.untrustedByCa(err, ep.url);
        throw err;
      }
    }, (res) => unansweredStatus(res.status, rule));
  }

  private async requestOnce<T>(ep: Endpoint, method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<ApiResponse<T>> {
    const url = new URL(path, ep.url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) { headers['content-type'] = 'application/json'; headers['content-length'] = String(payload.length); }
    if (token) headers.authorization = `Bearer ${token}`;
    let responded = false;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ...ep.options, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(explain(err, url)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try { parsed = text ? JSON.parse(text) : null; } catch { return reject(new ClientError('PROTOCOL', `The server at ${url.origin} answered ${res.statusCode} with something that is not JSON.`)); }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(req.reusedSocket && err.code === 'ECONNRESET' && !responded ? new StaleConnectionError() : explain(err, url));
      });
      req.on('response', () => { responded = true; });
      req.end(payload);
    });
  }

  /**
   * Starts a GET whose body is streamed (file downloads); resolves when the headers arrive.
   * `range` is sent as `Range` (for example `bytes=100-`), `ifRange` as `If-Range` (an ETag).
   * Connection failures, and failures while the body streams, carry one-line messages. Like
   * `request`, it moves to the next server when the current one does not serve it; the caller
   * resumes a broken body with `range` and lands on whichever server is current.
   */
  async download(path: string, token: string, options: { range?: string; ifRange?: string; signal?: AbortSignal } = {}): Promise<DownloadResponse> {
    const rule: RetryRule = { method: 'GET', idempotent: true, patient: !options.signal?.aborted };
    return this.patiently(rule, (ep) => this.downloadOnce(ep, path, token, options), (res) => unansweredStatus(res.status, rule), (res) => res.body.destroy());
  }

  private async downloadOnce(ep: Endpoint, path: string, token: string, options: { range?: string; ifRange?: string; signal?: AbortSignal }): Promise<DownloadResponse> {
    const url = new URL(path, ep.url);
    const headers: Record<string, string> = { accept: 'application/octet-stream', authorization: `Bearer ${token}` };
    if (options.range) headers.range = options.range;
    if (options.ifRange) headers['if-range'] = options.ifRange;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ...ep.options, method: 'GET', headers, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
        res.on('error', () => undefined); // the consumer sees failures through its own pipeline
        // While the body streams, the socket's idle timeout would be re-armed for every 16 KiB TLS record
        // (two timer-list updates each, about a tenth of the client's CPU for a large file); a watchdog
        // that looks at the bytes read every second does the same job.
        const idleMs = Number(ep.options.timeout ?? 0);
        const socket = res.socket;
        if (idleMs > 0 && socket) {
          req.setTimeout(0);
          socket.setTimeout(0);
          let seen = socket.bytesRead;
          let quietSince = Date.now();
          const watchdog = setInterval(() => {
            if (socket.bytesRead !== seen) { seen = socket.bytesRead; quietSince = Date.now(); return; }
            if (Date.now() - quietSince >= idleMs) req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
          }, Math.min(1000, idleMs));
          watchdog.unref();
          res.once('close', () => clearInterval(watchdog));
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => reject(err.name === 'AbortError' ? err : explain(err, url)));
      req.end();
    });
  }

  /** Like `request`, but any status other than 2xx becomes a ClientError with the server's message. */
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string, options: { patient?: boolean; idempotent?: boolean } = {}): Promise<T> {
    const res = await this.request<T | ErrorBody>(method, path, body, token, options);
    if (res.status >= 200 && res.status < 300) return res.body as T;
    const message = (res.body as ErrorBody | null)?.error?.message ?? `HTTP ${res.status}`;
    throw new ClientError('HTTP', message, res.status);
  }
}

/** A certificate subject (several lines) as one line. */
function oneLine(subject: string): string {
  return subject.split('\n').filter(Boolean).join(', ');
}

/** One handshake without sending anything: the server's certificate. */
function fetchPeerCertificate(url: URL, timeoutMs: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket = tlsConnect({ host, port: Number(url.port || 443), rejectUnauthorized: false, ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }) });
    socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (!cert) reject(new ClientError('UNTRUSTED', `The server at ${url.host} presented no certificate.`));
      else resolve(cert);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => reject(explain(err, url)));
  });
}
