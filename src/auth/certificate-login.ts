// Certificate authentication: the client-certificate trust of the TLS context (rebuilt on change) and the login it allows.

import type { X509Certificate } from 'node:crypto';
import type { AuthContext } from '../domain/security-settings.js';
import { certificateThumbprint, evaluatePeerCertificate, type PeerCertificateInput } from './certificate-rules.js';
import type { IssuedToken, LoginService, LoginSource } from './login-service.js';
import type { SecurityState } from './security-state.js';
import { buildClientCertTlsOptions, watchCrl, type ClientCertTlsOptions, type ReadFile } from './tls-trust.js';

/**
 * The `authorizationError` given to a peer whose connection was set up under an older CA bundle or
 * CRL: its TLS verdict is out of date, so it does not authenticate (reason `cert_connection_stale`).
 */
export const STALE_CONNECTION = 'DEPLOYR_TRUST_CHANGED';

/** What the certificate login needs. */
export interface CertificateLoginDeps {
  login: LoginService;
  security: SecurityState;
  now?: () => Date;
}

/** Signs in with the TLS peer's certificate; the token is bound to it (`cnf.x5t#S256`). */
export type CertificateLoginHandler = (peer: PeerCertificateInput, input: { context: AuthContext; source: LoginSource }) => Promise<IssuedToken>;

/**
 * Certificate login: evaluates the connection's client certificate against the certificate rules
 * in force (CA bundle, validity, clientAuth EKU, subject/SAN patterns, CRL through the TLS
 * context) and issues a token bound to its SHA-256 thumbprint, or audits the rejection reason
 * (`not_configured`, `cert_connection_stale` or a CertificateRejection) and throws the generic
 * AUTH_FAILED. Never falls through to another method.
 */
export function createCertificateLogin(deps: CertificateLoginDeps): CertificateLoginHandler {
  const now = deps.now ?? (() => new Date());
  return async (peer, input) => {
    const trust = deps.security.settings.settings.certificate;
    const subject = peer.peer ? certificateThumbprint(peer.peer) : 'none';
    const detail = peer.peer ? describeCertificate(peer.peer) : {};
    const refuse = async (reason: string): Promise<never> => {
      throw await deps.login.refuse({ method: 'certificate', subject, reason, context: input.context, source: input.source, detail });
    };
    if (!trust) return refuse('not_configured');
    if (peer.peer && peer.authorizationError === STALE_CONNECTION) return refuse('cert_connection_stale');
    const evaluation = evaluatePeerCertificate(peer, trust, now());
    if (!evaluation.ok) return refuse(evaluation.reason);
    return deps.login.issueVerified({
      method: 'certificate', subject: evaluation.thumbprint, certificateThumbprint: evaluation.thumbprint,
      context: input.context, source: input.source, detail,
    });
  };
}

/** Non-secret facts about a certificate for the audit trail. */
function describeCertificate(cert: X509Certificate): Record<string, unknown> {
  const line = (dn: string): string => dn.split('\n').filter((part) => part !== '').join(', ');
  return { certificateSubject: line(cert.subject), certificateIssuer: line(cert.issuer), serialNumber: cert.serialNumber };
}

/** What the trust needs from the service: how to apply new TLS options, and where to report. */
export interface ClientCertificateTrustHooks {
  /** Installs new client-certificate options in the running server (`server.setSecureContext`); may throw. */
  apply(options: ClientCertTlsOptions): void;
  /** Called when new options are in force. */
  onApplied?(why: 'settings' | 'crl'): void;
  /** Called when options cannot be built or applied; the previous ones stay in force. */
  onError(err: unknown, why: 'start' | 'settings' | 'crl'): void;
  readFile?: ReadFile;
  /** Starts watching a CRL file (tls-trust.ts watchCrl by default); returns a stop function. */
  watch?: (path: string, onChange: () => void) => () => void;
}

/**
 * The client-certificate part of the HTTPS server's TLS context: built from the security settings
 * at start, rebuilt without a restart when the certificate settings or the CRL file change. When a
 * rebuild fails the previous context stays in force. Each change starts a new generation; a
 * connection accepted under an older generation no longer counts as authorized (see
 * `peerForConnection`), because its handshake was checked against the old CA bundle or CRL.
 */
export class ClientCertificateTrust {
  private current: ClientCertTlsOptions;
  /** The certificate settings the current options were built from; null when the last build failed. */
  private appliedSettings: string | null;
  private generation = 0;
  private readonly accepted = new Map<string, number>();
  private readonly handshakes = new WeakMap<object, number>();
  private watched: { path: string; stop: () => void } | null = null;
  private started = false;

  constructor(private readonly security: SecurityState, private readonly hooks: ClientCertificateTrustHooks) {
    const certificate = security.settings.settings.certificate;
    try {
      this.current = buildClientCertTlsOptions(certificate, hooks.readFile);
      this.appliedSettings = JSON.stringify(certificate);
    } catch (err) {
      hooks.onError(err, 'start');
      this.current = buildClientCertTlsOptions(null);
      this.appliedSettings = null;
    }
  }

  /** The options to merge into the HTTPS server options at start. */
  get tlsOptions(): ClientCertTlsOptions {
    return this.current;
  }

  /** Follows settings changes and the CRL file from now on. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.security.onChange(() => this.rebuild('settings'));
    this.watchCrlFile();
  }

  /** Stops watching the CRL file. */
  stop(): void {
    this.watched?.stop();
    this.watched = null;
  }

  /** Call on every accepted TCP connection (the server's `connection` event), before its handshake. */
  noteConnection(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined; once(event: 'close', listener: () => void): unknown }): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.accepted.set(key, this.generation);
    socket.once('close', () => this.accepted.delete(key));
  }

  /** Call on every completed handshake (the server's `secureConnection` event). */
  noteHandshake(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.handshakes.set(socket, Math.min(this.accepted.get(key) ?? -1, this.generation));
    this.accepted.delete(key);
  }

  /** True when the connection was set up under the trust in force (close it after its response otherwise). */
  isCurrentConnection(socket: object): boolean {
    return this.handshakes.get(socket) === this.generation;
  }

  /**
   * The peer as it may be used now: unchanged when the connection was set up under the trust in
   * force, otherwise marked unauthorized with STALE_CONNECTION.
   */
  peerForConnection<T extends PeerCertificateInput>(socket: object, peer: T): T {
    if (!peer.peer || this.isCurrentConnection(socket)) return peer;
    return { ...peer, authorized: false, authorizationError: STALE_CONNECTION, thumbprint: null };
  }

  private watchCrlFile(): void {
    const path = this.security.settings.settings.certificate?.crlPath;
    if (this.watched?.path === path) return;
    this.stop();
    if (path === undefined) return;
    const watch = this.hooks.watch ?? watchCrl;
    this.watched = { path, stop: watch(path, () => this.rebuild('crl')) };
  }

  private rebuild(why: 'settings' | 'crl'): void {
    const certificate = this.security.settings.settings.certificate;
    const key = JSON.stringify(certificate);
    this.watchCrlFile();
    if (why === 'settings' && key === this.appliedSettings) return;
    let next: ClientCertTlsOptions;
    try {
      next = buildClientCertTlsOptions(certificate, this.hooks.readFile);
    } catch (err) {
      this.hooks.onError(err, why);
      return;
    }
    if (this.appliedSettings !== null && sameTrust(next, this.current)) {
      // Only the rules changed (patterns, EKU), which are checked on every request.
      this.appliedSettings = key;
      return;
    }
    try {
      this.hooks.apply(next);
    } catch (err) {
      this.hooks.onError(err, why);
      return;
    }
    this.current = next;
    this.appliedSettings = key;
    this.generation += 1;
    this.hooks.onApplied?.(why);
  }
}

function sameTrust(a: ClientCertTlsOptions, b: ClientCertTlsOptions): boolean {
  return JSON.stringify([a.ca ?? [], a.crl ?? []]) === JSON.stringify([b.ca ?? [], b.crl ?? []]);
}
