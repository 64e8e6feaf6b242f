// Client side of the OAuth 2.0 device authorization grant (RFC 8628) against Entra ID, with plain fetch.
import qrcode from 'qrcode-terminal';

/** Stable codes of device-flow failures. */
export type DeviceFlowErrorCode =
  | 'unreachable' // the authority could not be reached or answered garbage
  | 'unsupported' // the authority does not offer the device flow
  | 'expired' // the code expired before it was approved (server-side or local)
  | 'denied' // the user declined
  | 'rejected'; // any other OAuth error (named in the message)

/** A device-flow failure whose message is one line fit to show the technician. */
export class DeviceFlowError extends Error {
  /** Stable code for callers that branch on the kind of failure. */
  readonly code: DeviceFlowErrorCode;
  /** The OAuth `error` value when the authority sent one. */
  readonly oauthError: string | undefined;

  constructor(code: DeviceFlowErrorCode, message: string, oauthError?: string) {
    super(message);
    this.name = 'DeviceFlowError';
    this.code = code;
    this.oauthError = oauthError;
  }
}

/** The two endpoints the device flow needs, as read from the tenant's discovery document. */
export interface DeviceEndpoints {
  /** Where the flow starts (`device_authorization_endpoint`). */
  deviceAuthorizationEndpoint: string;
  /** Where the client polls for tokens (`token_endpoint`). */
  tokenEndpoint: string;
  /** The issuer the discovery document names. */
  issuer: string;
}

/** What the authority answered when the flow was started (RFC 8628 §3.2), in camel case. */
export interface DeviceAuthorization {
  /** Secret the client polls with; never shown. */
  deviceCode: string;
  /** Code the technician types on another device. */
  userCode: string;
  /** Where the technician goes to type the code. */
  verificationUri: string;
  /** A URL that already carries the code, when the authority offers one. */
  verificationUriComplete?: string;
  /** Lifetime of the codes, seconds. */
  expiresIn: number;
  /** Minimum seconds between polls (5 when the authority sends none). */
  interval: number;
}

/** Tokens obtained at the end of the flow. */
export interface DeviceFlowTokens {
  /** The access token to present to the DeployR server. */
  accessToken: string;
  /** The ID token, when the authority issued one. */
  idToken?: string;
}

/** Options for {@link pollDeviceFlow}. */
export interface PollDeviceFlowOptions {
  /** The authority's token endpoint. */
  tokenEndpoint: string;
  /** The public client's ID. */
  clientId: string;
  /** `deviceCode` from {@link startDeviceFlow}. */
  deviceCode: string;
  /** Seconds between polls, from {@link startDeviceFlow}. */
  interval: number;
  /** Seconds the code lives, from {@link startDeviceFlow}; polling stops once it has passed. */
  expiresIn: number;
  /** Resource indicator to send with each poll, when the authority needs one. */
  resource?: string;
  /** Waits between polls; injectable so tests need not wait real seconds. */
  sleep?: (ms: number) => Promise<void>;
  /** Current time in milliseconds; injectable for tests. */
  now?: () => number;
  /** Called after each poll that answered "not yet" (`authorization_pending` or `slow_down`). */
  onPending?: (state: { attempt: number; intervalSeconds: number; slowDown: boolean }) => void;
  /** Bound on each HTTP request, default 10 s. */
  fetchTimeoutMs?: number;
}

const DEFAULT_INTERVAL_SECONDS = 5;
const SLOW_DOWN_STEP_SECONDS = 5;
const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const EXPIRED_MESSAGE = 'The sign-in code expired before it was approved; start again';
const DENIED_MESSAGE = 'Sign-in was declined';

function oneLine(text: string, max = 200): string {
  const line = text.split(/\r?\n/)[0]?.trim() ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function causeOf(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error) return oneLine((cause as { code?: string }).code ?? cause.message, 80);
    return oneLine(err.message, 80);
  }
  return oneLine(String(err), 80);
}

function unreachable(url: string, err: unknown): DeviceFlowError {
  return new DeviceFlowError('unreachable', `Cannot reach the sign-in service at ${url} (${causeOf(err)})`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a positive number that authorities may send as a number or a numeric string. */
function seconds(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw unreachable(url, err);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DeviceFlowError('unreachable', `The sign-in service at ${url} answered HTTP ${response.status}`);
  }
  try {
    return await response.json();
  } catch (err) {
    throw new DeviceFlowError('unreachable', `The sign-in service at ${url} sent an unreadable answer (${causeOf(err)})`);
  }
}

/** POSTs a form; returns the HTTP status and the parsed JSON body (or undefined when it is not JSON). */
async function postForm(url: string, form: Record<string, string>, timeoutMs: number): Promise<[number, unknown]> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw unreachable(url, err);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  return [response.status, body];
}

function oauthError(body: unknown): { error: string; description?: string } | undefined {
  if (!isRecord(body) || typeof body['error'] !== 'string') return undefined;
  const description = body['error_description'];
  return typeof description === 'string' && description.trim() !== ''
    ? { error: body['error'], description: oneLine(description) }
    : { error: body['error'] };
}

function rejected(what: string, url: string, status: number, body: unknown): DeviceFlowError {
  const err = oauthError(body);
  if (!err) return new DeviceFlowError('unreachable', `The sign-in service at ${url} answered HTTP ${status}`);
  const detail = err.description ? ` (${err.description})` : '';
  return new DeviceFlowError('rejected', `${what} failed: ${err.error}${detail}`, err.error);
}

/**
 * Reads `device_authorization_endpoint` and `token_endpoint` from
 * `${authority}/${tenantId}/v2.0/.well-known/openid-configuration`.
 */
export async function discoverDeviceEndpoints(
  authority: string,
  tenantId: string,
  options: { fetchTimeoutMs?: number } = {},
): Promise<DeviceEndpoints> {
  const base = authority.replace(/\/+$/, '');
  const url = `${base}/${encodeURIComponent(tenantId)}/v2.0/.well-known/openid-configuration`;
  const doc = await getJson(url, options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS);
  if (!isRecord(doc) || typeof doc['token_endpoint'] !== 'string' || typeof doc['issuer'] !== 'string') {
    throw new DeviceFlowError('unreachable', `The sign-in service at ${url} sent no usable discovery document`);
  }
  const device = doc['device_authorization_endpoint'];
  if (typeof device !== 'string') {
    throw new DeviceFlowError('unsupported', `The sign-in service at ${base} does not offer device code sign-in`);
  }
  return { deviceAuthorizationEndpoint: device, tokenEndpoint: doc['token_endpoint'], issuer: doc['issuer'] };
}

/** Starts the flow (RFC 8628 §3.1): asks for a device code and the user code to show. */
export async function startDeviceFlow(options: {
  deviceAuthorizationEndpoint: string;
  clientId: string;
  scope: string;
  resource?: string;
  fetchTimeoutMs?: number;
}): Promise<DeviceAuthorization> {
  const url = options.deviceAuthorizationEndpoint;
  const form: Record<string, string> = { client_id: options.clientId, scope: options.scope };
  if (options.resource !== undefined) form['resource'] = options.resource;
  const [status, body] = await postForm(url, form, options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS);
  if (status !== 200) throw rejected('Starting sign-in', url, status, body);
  if (!isRecord(body)) throw new DeviceFlowError('unreachable', `The sign-in service at ${url} sent an unreadable answer`);
  const deviceCode = body['device_code'];
  const userCode = body['user_code'];
  // Entra's old v1 endpoint spelled it verification_url.
  const verificationUri = body['verification_uri'] ?? body['verification_url'];
  const expiresIn = seconds(body['expires_in']);
  if (typeof deviceCode !== 'string' || typeof userCode !== 'string' || typeof verificationUri !== 'string' || !expiresIn) {
    throw new DeviceFlowError('unreachable', `The sign-in service at ${url} sent an incomplete device authorization`);
  }
  const complete = body['verification_uri_complete'];
  return {
    deviceCode,
    userCode,
    verificationUri,
    ...(typeof complete === 'string' ? { verificationUriComplete: complete } : {}),
    expiresIn,
    interval: seconds(body['interval']) ?? DEFAULT_INTERVAL_SECONDS,
  };
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls the token endpoint (RFC 8628 §3.4–3.5) until the user approves, declines, or the code expires.
 * Waits `interval` seconds before each poll and adds 5 s for this and all later polls on `slow_down`.
 */
export async function pollDeviceFlow(options: PollDeviceFlowOptions): Promise<DeviceFlowTokens> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const deadline = now() + options.expiresIn * 1000;
  let intervalSeconds = seconds(options.interval) ?? DEFAULT_INTERVAL_SECONDS;
  const form: Record<string, string> = {
    grant_type: DEVICE_CODE_GRANT,
    device_code: options.deviceCode,
    client_id: options.clientId,
  };
  if (options.resource !== undefined) form['resource'] = options.resource;

  for (let attempt = 1; ; attempt++) {
    await sleep(intervalSeconds * 1000);
    if (now() >= deadline) throw new DeviceFlowError('expired', EXPIRED_MESSAGE);

    const [status, body] = await postForm(options.tokenEndpoint, form, timeoutMs);
    if (status === 200) {
      if (!isRecord(body) || typeof body['access_token'] !== 'string') {
        throw new DeviceFlowError('unreachable', `The sign-in service at ${options.tokenEndpoint} sent no access token`);
      }
      const idToken = body['id_token'];
      return { accessToken: body['access_token'], ...(typeof idToken === 'string' ? { idToken } : {}) };
    }

    const error = oauthError(body)?.error;
    switch (error) {
      case 'authorization_pending':
        options.onPending?.({ attempt, intervalSeconds, slowDown: false });
        continue;
      case 'slow_down':
        intervalSeconds += SLOW_DOWN_STEP_SECONDS;
        options.onPending?.({ attempt, intervalSeconds, slowDown: true });
        continue;
      case 'expired_token':
        throw new DeviceFlowError('expired', EXPIRED_MESSAGE, error);
      case 'access_denied':
      case 'authorization_declined': // Entra's name for it
        throw new DeviceFlowError('denied', DENIED_MESSAGE, error);
      default:
        throw rejected('Sign-in', options.tokenEndpoint, status, body);
    }
  }
}

/** The text to print for the technician: what to do, the code, the URL and a QR code of the URL. */
export function renderDeviceCodePrompt(userCode: string, verificationUri: string, verificationUriComplete?: string): string {
  const target = verificationUriComplete ?? verificationUri;
  let qr = '';
  qrcode.generate(target, { small: true }, (code: string) => {
    qr = code;
  });
  return [
    'Sign in with Entra ID on another device (phone or PC):',
    `  1. Open ${verificationUri} or scan the QR code below${verificationUriComplete ? ' (it fills in the code)' : ''}`,
    `  2. Enter the code: ${userCode}`,
    '  3. Sign in with your work account and approve.',
    '',
    qr.replace(/\n+$/, ''),
    '',
    'Waiting for approval...',
  ].join('\n');
}
