// The login routes: the method list, passcode, anonymous, and (when wired) certificate and Entra ID.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  EntraLoginSchema, PasscodeLoginSchema, PATHS, SimpleLoginSchema,
  type EntraLoginRequest, type MethodsResponse, type PasscodeLoginRequest, type SimpleLoginRequest, type TokenResponse,
} from '../../api/contract.js';
import type { LoginService, LoginSource } from '../../auth/login-service.js';
import { peerCertificate, type PeerCertificate } from '../peer-certificate.js';

/** Certificate login: given the connection's TLS facts, a token or a thrown error. */
export type CertificateLogin = (peer: PeerCertificate, input: { context: 'boot' | 'fullos'; source: LoginSource }) => Promise<TokenResponse>;
/** Entra ID login: given the access token from the device flow, a token or a thrown error. */
export type EntraLogin = (accessToken: string, input: { context: 'boot' | 'fullos'; source: LoginSource }) => Promise<TokenResponse>;

function sourceOf(req: FastifyRequest, deviceId: string | undefined): LoginSource {
  return { address: req.ip, deviceId: deviceId ?? null };
}

/** What the login routes need (a part of the app's dependencies). */
export interface AuthRouteDeps {
  login: LoginService;
  /** Certificate authentication, when wired. */
  certificateLogin?: CertificateLogin;
  /** Entra ID authentication, when wired. */
  entraLogin?: EntraLogin;
  /** Reads a request's client certificate (default: peer-certificate.ts). */
  peerOf?: (req: FastifyRequest) => PeerCertificate;
}

/** Registers the login routes. */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  const open = { config: { public: true } };

  app.get(PATHS.methods, open, async (): Promise<MethodsResponse> => deps.login.describeMethods());

  app.post(PATHS.passcode, { ...open, schema: { body: PasscodeLoginSchema } }, async (req): Promise<TokenResponse> => {
    const body = req.body as PasscodeLoginRequest;
    return deps.login.loginWithPasscode({
      passcode: body.passcode, context: body.context, taskSequence: body.taskSequence ?? null, source: sourceOf(req, body.deviceId),
    });
  });

  app.post(PATHS.anonymous, { ...open, schema: { body: SimpleLoginSchema } }, async (req): Promise<TokenResponse> => {
    const body = (req.body ?? {}) as SimpleLoginRequest;
    return deps.login.loginAnonymous({ context: body.context ?? 'boot', source: sourceOf(req, body.deviceId) });
  });

  const certificateLogin = deps.certificateLogin;
  if (certificateLogin) {
    app.post(PATHS.certificate, { ...open, schema: { body: SimpleLoginSchema } }, async (req): Promise<TokenResponse> => {
      const body = (req.body ?? {}) as SimpleLoginRequest;
      return certificateLogin((deps.peerOf ?? peerCertificate)(req), { context: body.context ?? 'fullos', source: sourceOf(req, body.deviceId) });
    });
  }

  const entraLogin = deps.entraLogin;
  if (entraLogin) {
    app.post(PATHS.entra, { ...open, schema: { body: EntraLoginSchema } }, async (req): Promise<TokenResponse> => {
      const body = req.body as EntraLoginRequest;
      return entraLogin(body.accessToken, { context: body.context ?? 'boot', source: sourceOf(req, body.deviceId) });
    });
  }
}
