// The wire contract shared by the server and the client: paths, request and response shapes, and their schemas.

import { Type, type Static } from '@sinclair/typebox';

/** The API's base path, as DeployR's. */
export const API_BASE = '/v1';

/** The paths of the API. */
export const PATHS = {
  health: '/v1/health',
  methods: '/v1/auth/methods',
  passcode: '/v1/auth/passcode',
  anonymous: '/v1/auth/anonymous',
  certificate: '/v1/auth/certificate',
  entra: '/v1/auth/entra',
  taskSequences: '/v1/task-sequences',
  contentItems: '/v1/content-items',
  localStatus: '/v1/local/status',
} as const;

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** `GET /v1/health`. */
export interface HealthResponse {
  status: 'ok';
  name: 'deployr';
  version: string;
}

/** One configured method and what the client needs for it (never a secret). */
export type MethodInfo =
  | { method: 'anonymous' }
  | { method: 'certificate' }
  | { method: 'entra'; authority: string; tenantId: string; clientId: string; scope: string }
  | { method: 'passcode'; contexts: ('boot' | 'fullos')[] };

/** `GET /v1/auth/methods`: the configured methods in the order the client tries them. */
export interface MethodsResponse {
  methods: MethodInfo[];
  /** False when nothing is configured: no token is issued to anyone. */
  configured: boolean;
}

/** Where a task sequence is started. */
export const AuthContextSchema = Type.Union([Type.Literal('boot'), Type.Literal('fullos')]);

const DeviceId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' });

/** `POST /v1/auth/passcode`. */
export const PasscodeLoginSchema = Type.Object({
  passcode: Type.String({ minLength: 1, maxLength: 1024 }),
  context: AuthContextSchema,
  /** The task sequence a full-OS start names (`<guid>` or `<guid>:<version>`). */
  taskSequence: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
  deviceId: Type.Optional(DeviceId),
}, { additionalProperties: false });
/** The passcode login request. */
export type PasscodeLoginRequest = Static<typeof PasscodeLoginSchema>;

/** `POST /v1/auth/anonymous` and `POST /v1/auth/certificate`. */
export const SimpleLoginSchema = Type.Object({
  context: Type.Optional(AuthContextSchema),
  deviceId: Type.Optional(DeviceId),
}, { additionalProperties: false });
/** The anonymous or certificate login request. */
export type SimpleLoginRequest = Static<typeof SimpleLoginSchema>;

/** `POST /v1/auth/entra`: an access token from the Entra ID device flow. */
export const EntraLoginSchema = Type.Object({
  accessToken: Type.String({ minLength: 1, maxLength: 16384 }),
  context: Type.Optional(AuthContextSchema),
  deviceId: Type.Optional(DeviceId),
}, { additionalProperties: false });
/** The Entra ID login request. */
export type EntraLoginRequest = Static<typeof EntraLoginSchema>;

/** A successful login. */
export interface TokenResponse {
  token: string;
  /** ISO 8601. */
  expiresAt: string;
}

/** One task sequence in a list. */
export interface TaskSequenceSummary {
  id: string;
  name: string;
  description: string | null;
  versions: { versionNo: number; status: string; steps: number }[];
}

/** `GET /v1/task-sequences`. */
export interface TaskSequenceList {
  taskSequences: TaskSequenceSummary[];
}

/** One content item in a list. */
export interface ContentItemSummary {
  id: string;
  name: string;
  description: string | null;
  contentItemPurpose: string;
  type: string;
  versions: { versionNo: number; status: string; files: number; size: number }[];
}

/** `GET /v1/content-items`. */
export interface ContentItemList {
  contentItems: ContentItemSummary[];
}

/** `GET /v1/local/status` (local listener only): what the running service has applied. */
export interface LocalStatus {
  version: string;
  startedAt: string;
  pid: number;
  port: number;
  /** The settings revision the service applies now. */
  appliedRevision: number;
  /** SHA-256 fingerprint of the TLS certificate it serves. */
  tlsFingerprint: string;
  /** Consecutive failed logins across all sources, and whether the alert is raised. */
  failedLogins: { consecutive: number; alert: boolean };
}

/** A path parameter that is a task sequence or content item id (a GUID). */
export const IdParamsSchema = Type.Object({
  id: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
}, { additionalProperties: false });
