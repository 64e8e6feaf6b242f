// The client's sign-in: reads the server's methods and tries them in DeployR's order (anonymous, certificate, Entra ID, passcode).

import { PATHS, type ErrorBody, type MethodInfo, type MethodsResponse, type TokenResponse } from '../api/contract.js';
import { ClientError, type ApiClient } from './api-client.js';
import { DeviceFlowError, discoverDeviceEndpoints, pollDeviceFlow, renderDeviceCodePrompt, startDeviceFlow } from './device-flow.js';
import type { Prompter } from './prompt.js';

/** What sign-in needs from the caller. */
export interface SignInOptions {
  context: 'boot' | 'fullos';
  /** A passcode given as the variable `Passcode` (full-OS starts); never prompted for then. */
  passcodeVariable: string | null;
  /** Whether a client certificate is configured on the connection. */
  hasClientCertificate: boolean;
  /** The task sequence named at start (full OS), sent with a passcode login. */
  taskSequence: string | null;
  deviceId: string | null;
  /**
   * Signing in again during a run: no prompt and no device code (nobody may be there). A method that
   * needs a person throws ClientError `EXPIRED` instead.
   */
  unattended?: boolean;
  /** How long to wait at most when throttled before asking again (tests shorten it). */
  maxThrottleWaitSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Where sign-in writes what the technician reads. */
export interface SignInIo {
  prompter: Prompter;
  say(line: string): void;
}

/** A token and the method that got it. */
export interface SignedIn extends TokenResponse {
  method: MethodInfo['method'];
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Signs in with the first method available to this client. A failed higher method never falls
 * through to anonymous (anonymous comes first and is only tried when the server offers it).
 */
export async function signIn(api: ApiClient, options: SignInOptions, io: SignInIo): Promise<SignedIn> {
  const { methods, configured } = await api.call<MethodsResponse>('GET', PATHS.methods);
  const device = options.deviceId ? { deviceId: options.deviceId } : {};
  if (!configured) {
    io.say('The server has no authentication method configured, so no one can proceed; an administrator must set one (for example: deployr configure security --passcode).');
    return passcodeLoop(api, options, io, false);
  }
  for (const m of methods) {
    switch (m.method) {
      case 'anonymous': {
        io.say('WARNING: this server allows anonymous (bypass) authentication: anyone who can reach it can run any task sequence.');
        const t = await api.call<TokenResponse>('POST', PATHS.anonymous, { context: options.context, ...device });
        return { ...t, method: 'anonymous' };
      }
      case 'certificate': {
        if (!options.hasClientCertificate) continue;
        const res = await api.request<TokenResponse>('POST', PATHS.certificate, { context: options.context, ...device });
        if (res.status === 200) return { ...res.body, method: 'certificate' };
        io.say('The client certificate was not accepted by the server.');
        continue;
      }
      case 'entra': {
        if (options.context === 'fullos' && options.passcodeVariable) continue;
        if (options.unattended) throw needsPerson('Entra ID (a device code)');
        return { ...(await entraSignIn(api, m, options, io)), method: 'entra' };
      }
      case 'passcode': {
        if (!m.contexts.includes(options.context)) continue;
        return passcodeLoop(api, options, io, true);
      }
    }
  }
  if (options.context === 'boot' && methods.some((m) => m.method === 'passcode')) {
    throw new ClientError('HTTP', 'Passcode sign-in at boot is turned off on this server because Entra ID is configured; sign in with Entra ID.');
  }
  throw new ClientError('HTTP', 'None of the sign-in methods this server offers is available to this client (' + methods.map((m) => m.method).join(', ') + ').');
}

/** The Entra ID device code flow: shows the code, URL and QR code, polls, then exchanges the access token for the server's token. */
async function entraSignIn(api: ApiClient, m: Extract<MethodInfo, { method: 'entra' }>, options: SignInOptions, io: SignInIo): Promise<TokenResponse> {
  let accessToken: string;
  try {
    const endpoints = await discoverDeviceEndpoints(m.authority, m.tenantId);
    const flow = await startDeviceFlow({ deviceAuthorizationEndpoint: endpoints.deviceAuthorizationEndpoint, clientId: m.clientId, scope: `${m.scope} openid` });
    io.say(renderDeviceCodePrompt(flow.userCode, flow.verificationUri, flow.verificationUriComplete));
    const tokens = await pollDeviceFlow({
      tokenEndpoint: endpoints.tokenEndpoint, clientId: m.clientId, deviceCode: flow.deviceCode, interval: flow.interval, expiresIn: flow.expiresIn,
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
    accessToken = tokens.accessToken;
  } catch (err) {
    if (!(err instanceof DeviceFlowError)) throw err;
    const code = err.code === 'unreachable' || err.code === 'unsupported' ? 'UNREACHABLE' : err.code === 'rejected' ? 'HTTP' : 'INPUT';
    throw new ClientError(code, `Entra ID sign-in did not complete: ${err.message}.`);
  }
  const res = await api.request<TokenResponse | ErrorBody>('POST', PATHS.entra, { accessToken, context: options.context, ...(options.deviceId ? { deviceId: options.deviceId } : {}) });
  if (res.status === 200) return res.body as TokenResponse;
  if (res.status === 401) {
    throw new ClientError('HTTP', 'The server refused the Entra ID sign-in (the account may lack the required app role, or belong to another tenant).', res.status);
  }
  throw new ClientError('HTTP', (res.body as ErrorBody | null)?.error?.message ?? `The server answered ${res.status} to the Entra ID sign-in.`, res.status);
}

/**
 * The passcode challenge: asks until the server accepts one, says when it is wrong and how long to
 * wait when throttled; with no method configured it keeps asking and cannot proceed. Ends (with an
 * error) when the input ends. A `Passcode` variable is tried once, without prompting.
 */
async function passcodeLoop(api: ApiClient, options: SignInOptions, io: SignInIo, configured: boolean): Promise<SignedIn> {
  const sleep = options.sleep ?? realSleep;
  const extra = { ...(options.taskSequence ? { taskSequence: options.taskSequence } : {}), ...(options.deviceId ? { deviceId: options.deviceId } : {}) };
  if (options.passcodeVariable !== null) {
    const res = await api.request<TokenResponse>('POST', PATHS.passcode, { passcode: options.passcodeVariable, context: options.context, ...extra });
    if (res.status === 200) return { ...res.body, method: 'passcode' };
    if (res.status === 429) throw new ClientError('HTTP', `Too many failed attempts from this machine; wait ${res.headers['retry-after'] ?? 'a while'} seconds before trying again.`, 429);
    throw new ClientError('HTTP', configured ? 'The Passcode variable was not accepted by the server.' : 'The server has no authentication method configured; the Passcode variable cannot be used.', res.status);
  }
  if (options.unattended) throw needsPerson('a passcode typed at the prompt');
  let retry: string | null = null;
  for (;;) {
    const passcode: string | null = retry ?? await io.prompter.secret('Passcode:');
    retry = null;
    if (passcode === null) {
      throw new ClientError('INPUT', configured ? 'No passcode was entered; stopping.' : 'The server has no authentication method configured; cannot proceed.');
    }
    if (passcode.length === 0) continue;
    // Between prompts (the request, a throttle wait) nothing typed is echoed: it may be the passcode.
    const hold = io.prompter.quiet();
    let res;
    try {
      res = await api.request<TokenResponse>('POST', PATHS.passcode, { passcode: passcode.slice(0, 1024), context: options.context, ...extra });
      if (res.status === 429) {
        // The server did not look at the passcode: wait as told, then send the same one again.
        const wait = Math.max(1, Number(res.headers['retry-after'] ?? 1));
        io.say(`Too many failed attempts: waiting ${seconds(wait)} before trying again (what you type meanwhile is not shown and is ignored).`);
        await sleep(Math.min(wait, options.maxThrottleWaitSeconds ?? 900) * 1000);
        retry = passcode;
      }
    } finally {
      if (hold.release()) io.say('What was typed while waiting was ignored.');
    }
    if (res.status === 200) return { ...res.body, method: 'passcode' };
    if (res.status === 429) continue;
    if (res.status === 401) {
      io.say(configured ? 'The passcode is incorrect. Try again.' : 'The server has no authentication method configured; no passcode can be accepted. Ask an administrator to set one.');
      continue;
    }
    throw new ClientError('HTTP', `The server answered ${res.status} to the passcode.`, res.status);
  }
}

/** The session cannot be renewed without a person. */
function needsPerson(how: string): ClientError {
  return new ClientError('EXPIRED', `The session expired during the run, and signing in again needs ${how}; the run stops here with its state kept (start the client again to sign in and resume; the token lifetime is the server's DEPLOYR_TOKEN_TTL).`);
}

/** `1 second`, `5 seconds`. */
function seconds(n: number): string {
  return `${n} second${n === 1 ? '' : 's'}`;
}
