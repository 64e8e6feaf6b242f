// The client's HTTPS connection to the service: verified TLS (a CA file or a pinned fingerprint), JSON requests, one-line errors.

import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import type { ErrorBody } from '../api/contract.js';

/**
 * A failure the client reports in one line. `EXPIRED`: the session ended during a run and signing in
 * again needs a person. `errno` is the network error code behind an UNREACHABLE one.
 */
export class ClientError extends Error {
  errno?: string;

  constructor(readonly code: 'UNREACHABLE' | 'UNTRUSTED' | 'HTTP' | 'PROTOCOL' | 'INPUT' | 'EXPIRED', message: string, readonly status?: number) {
    super(message);
    this.name = 'ClientError';
  }
}

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

/** JSON over verified HTTPS to one server. */
export class ApiClient {
  private patience: Patience | null = null;
  /** The --ca PEM, to say what it holds when the server's certificate does not match it. */
  private caGiven: string | null = null;

  private constructor(readonly baseUrl: URL, private readonly tlsOptions: RequestOptions) {}

  /**
   * A server certificate the --ca file does not vouch for: names the certificate the server
   * presented (subject and SHA-256 fingerprint) and what the file holds, instead of the same
   * message as when no --ca was given.
   */
  private async untrustedByCa(err: ClientError): Promise<ClientError> {
    if (this.caGiven === null || err.code !== 'UNTRUSTED') return err;
    const presented = await fetchPeerCertificate(this.baseUrl, 10_000).catch(() => null);
    if (!presented) return err;
    let inFile = 'a certificate';
    try {
      const ca = new X509Certificate(this.caGiven);
      inFile = `"${oneLine(ca.subject)}" (SHA-256 ${ca.fingerprint256})`;
    } catch { /* described generically */ }
    return new ClientError('UNTRUSTED', `The server's certificate at ${this.baseUrl.host} is not trusted: it presented "${oneLine(presented.subject)}" (SHA-256 ${presented.fingerprint256}), which does not match the --ca file: it holds ${inFile}, which neither is nor issued the server's certificate. Pass the service's own tls/server.crt (or its CA), or --fingerprint with the fingerprint printed when the service starts.`);
  }

  /**
   * From now on, a request the server never answered because it could not be reached is tried
   * again with growing waits (1, 2, 4 … 30 s) for `patience.totalMs` in all; null turns it off.
   */
  setPatience(patience: Patience | null): void {
    this.patience = patience;
  }

  /** Runs `attempt`, trying again while the server is unreachable and patience lasts. */
  private async patiently<T>(method: string, attempt: () => Promise<T>, patient: boolean): Promise<T> {
    const patience = patient ? this.patience : null;
    const started = Date.now();
    let failures = 0;
    for (;;) {
      try {
        const result = await attempt();
        if (failures > 0) patience?.notice('The server answers again; carrying on.');
        return result;
      } catch (err) {
        const errno = err instanceof ClientError && err.code === 'UNREACHABLE' ? err.errno : undefined;
        const retryable = errno !== undefined && (NEVER_SENT.has(errno) || (method === 'GET' && MAYBE_SENT.has(errno)));
        const elapsed = Date.now() - started;
        if (!patience || !retryable || elapsed >= patience.totalMs) {
          if (patience && retryable && failures > 0) throw new ClientError('UNREACHABLE', `Cannot reach the server at ${this.baseUrl.origin} (${errno}); gave up after ${shortDuration(elapsed)} (the patience is ${shortDuration(patience.totalMs)}: --patience or DEPLOYR_CLIENT_PATIENCE).`);
          throw err;
        }
        const wait = Math.min((BACKOFF_SECONDS[Math.min(failures, BACKOFF_SECONDS.length - 1)] ?? 30) * 1000, Math.max(1000, patience.totalMs - elapsed));
        failures += 1;
        patience.notice(`Server unreachable (${errno}), retrying in ${shortDuration(wait)}; giving up after ${shortDuration(patience.totalMs)} without an answer.`);
        await (patience.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))))(wait);
      }
    }
  }

  /**
   * Connects to `server`. With a fingerprint, a first handshake (sending nothing) fetches the
   * server's certificate and compares it; every request then trusts exactly that certificate.
   */
  static async connect(server: string, trust: ServerTrust, timeoutMs = 10_000): Promise<ApiClient> {
    let url: URL;
    // HOST or HOST:PORT without a scheme means https:// (the only protocol the service speaks to clients).
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(server.trim()) ? server.trim() : `https://${server.trim()}`;
    try { url = new URL(withScheme); } catch { throw new ClientError('INPUT', `"${server}" is not a server address; use https://HOST:7281 (or HOST:PORT).`); }
    if (url.protocol !== 'https:') throw new ClientError('INPUT', `The server URL must start with https:// (got ${url.protocol}//); the service speaks HTTPS on port 7281.`);
    const options: RequestOptions = { timeout: timeoutMs };
    if (trust.clientCert) Object.assign(options, trust.clientCert);
    if (trust.fingerprint) {
      const want = normalizeFingerprint(trust.fingerprint);
      if (want.length !== 64) throw new ClientError('INPUT', '--fingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed).');
      const pem = await fetchPeerCertificate(url, timeoutMs);
      if (normalizeFingerprint(pem.fingerprint256) !== want) {
        throw new ClientError('UNTRUSTED', `The server's certificate at ${url.host} does not match the fingerprint given (it has ${pem.fingerprint256}); not connecting.`);
      }
      options.ca = pem.toString();
      options.checkServerIdentity = (_host: string, cert: PeerCertificate) =>
        normalizeFingerprint(cert.fingerprint256) === want ? undefined : Object.assign(new Error('fingerprint mismatch'), { code: 'FINGERPRINT_MISMATCH' });
    } else if (trust.caPem) {
      options.ca = trust.caPem;
    }
    const api = new ApiClient(url, options);
    if (!trust.fingerprint && trust.caPem) api.caGiven = trust.caPem;
    return api;
  }

  /**
   * Sends a JSON request and parses the JSON answer (any status). While patience is set (and
   * `patient` is not false), an unreachable server is tried again (see `setPatience`).
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string, options: { patient?: boolean } = {}): Promise<ApiResponse<T>> {
    return this.patiently(method, async () => {
      try {
        return await this.requestOnce<T>(method, path, body, token);
      } catch (err) {
        // A kept-alive connection the server closed meanwhile (idle, or after a trust change) fails
        // before the request is read: sending it once more on a new connection is safe.
        if (err instanceof StaleConnectionError) return this.requestOnce<T>(method, path, body, token);
        if (err instanceof ClientError) throw await this.untrustedByCa(err);
        throw err;
      }
    }, options.patient !== false);
  }

  private async requestOnce<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<ApiResponse<T>> {
    const url = new URL(path, this.baseUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) { headers['content-type'] = 'application/json'; headers['content-length'] = String(payload.length); }
    if (token) headers.authorization = `Bearer ${token}`;
    let responded = false;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ...this.tlsOptions, method, headers }, (res) => {
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
   * Connection failures, and failures while the body streams, carry one-line messages.
   */
  async download(path: string, token: string, options: { range?: string; ifRange?: string; signal?: AbortSignal } = {}): Promise<DownloadResponse> {
    return this.patiently('GET', () => this.downloadOnce(path, token, options), !options.signal?.aborted);
  }

  private async downloadOnce(path: string, token: string, options: { range?: string; ifRange?: string; signal?: AbortSignal }): Promise<DownloadResponse> {
    const url = new URL(path, this.baseUrl);
    const headers: Record<string, string> = { accept: 'application/octet-stream', authorization: `Bearer ${token}` };
    if (options.range) headers.range = options.range;
    if (options.ifRange) headers['if-range'] = options.ifRange;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ...this.tlsOptions, method: 'GET', headers, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
        res.on('error', () => undefined); // the consumer sees failures through its own pipeline
        // While the body streams, the socket's idle timeout would be re-armed for every 16 KiB TLS record
        // (two timer-list updates each, about a tenth of the client's CPU for a large file); a watchdog
        // that looks at the bytes read every second does the same job.
        const idleMs = Number(this.tlsOptions.timeout ?? 0);
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
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string, options: { patient?: boolean } = {}): Promise<T> {
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
