// The client's HTTPS connection to the service: verified TLS (a CA file or a pinned fingerprint), JSON requests, one-line errors.

import type { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import type { ErrorBody } from '../api/contract.js';

/** A failure the client reports in one line. */
export class ClientError extends Error {
  constructor(readonly code: 'UNREACHABLE' | 'UNTRUSTED' | 'HTTP' | 'PROTOCOL' | 'INPUT', message: string, readonly status?: number) {
    super(message);
    this.name = 'ClientError';
  }
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
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'].includes(code)) {
    return new ClientError('UNREACHABLE', `Cannot reach the server at ${url.origin} (${code}). Check the address and that the service is running.`);
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
  private constructor(readonly baseUrl: URL, private readonly tlsOptions: RequestOptions) {}

  /**
   * Connects to `server`. With a fingerprint, a first handshake (sending nothing) fetches the
   * server's certificate and compares it; every request then trusts exactly that certificate.
   */
  static async connect(server: string, trust: ServerTrust, timeoutMs = 10_000): Promise<ApiClient> {
    let url: URL;
    try { url = new URL(server); } catch { throw new ClientError('INPUT', `"${server}" is not a URL; use https://HOST:7281`); }
    if (url.protocol !== 'https:') throw new ClientError('INPUT', `The server URL must start with https:// (got ${url.protocol}//).`);
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
    return new ApiClient(url, options);
  }

  /** Sends a JSON request and parses the JSON answer (any status). */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<ApiResponse<T>> {
    try {
      return await this.requestOnce<T>(method, path, body, token);
    } catch (err) {
      // A kept-alive connection the server closed meanwhile (idle, or after a trust change) fails
      // before the request is read: sending it once more on a new connection is safe.
      if (err instanceof StaleConnectionError) return this.requestOnce<T>(method, path, body, token);
      throw err;
    }
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
  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<T> {
    const res = await this.request<T | ErrorBody>(method, path, body, token);
    if (res.status >= 200 && res.status < 300) return res.body as T;
    const message = (res.body as ErrorBody | null)?.error?.message ?? `HTTP ${res.status}`;
    throw new ClientError('HTTP', message, res.status);
  }
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
