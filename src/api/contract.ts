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
  stepDefinitions: '/v1/step-definitions',
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
  /** `issuers`: subject DNs of the trusted CAs; present a certificate issued under one of them on the TLS connection. */
  | { method: 'certificate'; issuers: string[] }
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
  /** The task sequence a full-OS start names (`<guid>` or `<guid>:<version>`); any other form is refused with 400 before the passcode is checked. */
  taskSequence: Type.Optional(Type.String({ minLength: 36, maxLength: 47, pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(:[1-9][0-9]{0,9})?$' })),
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

/** The response schema of `GET /v1/task-sequences` (also makes its serialisation fast). */
export const TaskSequenceListSchema = Type.Object({
  taskSequences: Type.Array(Type.Object({
    id: Type.String(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    versions: Type.Array(Type.Object({ versionNo: Type.Integer(), status: Type.String(), steps: Type.Integer() })),
  })),
});

/** One custom step definition in a list. */
export interface StepDefinitionSummary {
  id: string;
  name: string;
  description: string | null;
  /** DeployR's category, e.g. "Windows Customization". */
  typeName: string | null;
  versions: { versionNo: number; status: string; options: number }[];
}

/** `GET /v1/step-definitions`. */
export interface StepDefinitionList {
  stepDefinitions: StepDefinitionSummary[];
}

/** The response schema of `GET /v1/step-definitions`. */
export const StepDefinitionListSchema = Type.Object({
  stepDefinitions: Type.Array(Type.Object({
    id: Type.String(),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    typeName: Type.Union([Type.String(), Type.Null()]),
    versions: Type.Array(Type.Object({ versionNo: Type.Integer(), status: Type.String(), options: Type.Integer() })),
  })),
});

/** One option of a step definition version on the wire (DeployR's export shape; unknown fields may follow). */
export interface StepDefinitionOptionDocument {
  name: string;
  displayName: string | null;
  description: string | null;
  required: boolean;
  defaultValue: string | null;
  /** "Text", "Boolean", "Number", "DropDownList", "Content", "Script", or another type kept as it is. */
  type: string;
  contentItemPurpose: string | null;
  hidden: boolean;
  validations: { regexRule: string; errorMessage: string | null }[] | null;
  dropdownOptions: { displayName: string | null; value: string }[] | null;
}

/**
 * `GET /v1/step-definitions/{id}`: the definition exactly in DeployR's export shape
 * (`Export-DeployRStepDefinition`), unknown fields included; the client validates it with the
 * domain's parser. It has no response schema, which would drop the unknown fields.
 */
export interface StepDefinitionDocument {
  id: string;
  name: string;
  description: string | null;
  typeName: string | null;
  versions: {
    id: string;
    stepDefinitionId: string;
    versionNo: number;
    status: string;
    description: string | null;
    options: StepDefinitionOptionDocument[];
    validators: unknown;
    createdDate: number;
    lastModifiedDate: number;
  }[];
  versionsCount: number;
  createdDate: number;
  lastModifiedDate: number;
  readOnly: boolean;
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

/** A path parameter that is a task sequence, step definition or content item id (a GUID). */
export const IdParamsSchema = Type.Object({
  id: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
}, { additionalProperties: false });

/** Where content versions and their files are fetched (see docs/content.md). */
export const CONTENT_PATHS = {
  /** The base of file delivery: `/v1/content/{sha256}`. */
  blobBase: '/v1/content',
  /** `GET /v1/content-items/{id}/versions/{versionNo|active}`: one version with its files. */
  version: (id: string, versionNo: number | 'active'): string => `/v1/content-items/${encodeURIComponent(id)}/versions/${versionNo}`,
  /** `GET|HEAD /v1/content/{sha256}`: one file's bytes (Range, If-Range, If-None-Match; ETag `"<sha256>"`). */
  blob: (sha256: string): string => `/v1/content/${encodeURIComponent(sha256)}`,
} as const;

/** One file of a content version on the wire. */
export interface ContentFileInfo {
  /** Relative path with forward slashes. */
  path: string;
  size: number;
  /** SHA-256, lower-case hex; also the file's ETag and its address under `/v1/content/`. */
  sha256: string;
}

/** `GET /v1/content-items/{id}/versions/{versionNo|active}`. */
export interface ContentVersionResponse {
  contentItemId: string;
  name: string;
  contentItemPurpose: string;
  type: string;
  versionNo: number;
  status: string;
  description: string | null;
  installationCommandLine: string | null;
  driverManufacturer: string | null;
  driverModel: string | null;
  /** For disk images: `raw`, `raw+gzip` or `raw+zst`; null when not stated (see docs/content.md). */
  format: string | null;
  files: ContentFileInfo[];
}

/** Path parameters of the version route: a content item id and a version number or `active`. */
export const ContentVersionParamsSchema = Type.Object({
  id: Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' }),
  versionNo: Type.String({ pattern: '^(active|[1-9][0-9]{0,8})$' }),
}, { additionalProperties: false });

/** Path parameter of the blob route: a SHA-256 in hex. */
export const BlobParamsSchema = Type.Object({
  sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
}, { additionalProperties: false });

/** Where runs are registered, reported and read, and the full-OS bootstrap script (see docs/runs.md). */
export const RUN_PATHS = {
  /** `GET` lists runs, `POST` registers one. */
  runs: '/v1/runs',
  /** `GET /v1/runs/{id}`: a run and its steps. */
  run: (id: string): string => `/v1/runs/${encodeURIComponent(id)}`,
  /** `POST`: a step started or ended. */
  steps: (id: string): string => `/v1/runs/${encodeURIComponent(id)}/steps`,
  /** `POST`: the run continues after a restart. */
  resume: (id: string): string => `/v1/runs/${encodeURIComponent(id)}/resume`,
  /** `POST`: the run ended (or waits for a restart, or was interrupted). */
  finish: (id: string): string => `/v1/runs/${encodeURIComponent(id)}/finish`,
  /** `POST`: the client is still there (while a long step runs); keeps the run from going stale. */
  heartbeat: (id: string): string => `/v1/runs/${encodeURIComponent(id)}/heartbeat`,
  /** `POST` appends to the run's log; `GET` reads it. */
  log: (id: string): string => `/v1/runs/${encodeURIComponent(id)}/log`,
  /** `POST`: runs a script from the content library's Scripts folder on the server. */
  serverScript: (id: string): string => `/v1/runs/${encodeURIComponent(id)}/server-script`,
  /** `GET [?tsid=ID[:VERSION]][&shell=sh|powershell]` (no token): a script that fetches and starts the client. */
  bootstrap: '/v1/Service/Bootstrap',
  /** `GET` (no token): the stand-alone client, one JavaScript file for Node.js 20+ (`node FILE client …`); its SHA-256 is the ETag. */
  client: '/v1/Service/Client',
} as const;

const Guid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

const DeviceText = Type.String({ maxLength: 256 });

/** What a client tells about its machine: hostname, MAC addresses, serial number, make and model (from DMI where readable). */
export const DeviceInfoSchema = Type.Object({
  hostname: Type.Optional(DeviceText),
  macs: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){5,19}$' }), { maxItems: 64 })),
  serialNumber: Type.Optional(DeviceText),
  make: Type.Optional(DeviceText),
  model: Type.Optional(DeviceText),
}, { additionalProperties: false });
/** A device description. */
export type DeviceInfo = Static<typeof DeviceInfoSchema>;

/** `POST /v1/runs`: register a run of an Active task sequence version. */
export const CreateRunSchema = Type.Object({
  taskSequenceId: Guid,
  versionNo: Type.Integer({ minimum: 1 }),
  deviceId: Type.Optional(DeviceId),
  /** Number of enabled steps in the plan, for progress. */
  stepsTotal: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  /** What the client could read about the machine (each part optional). */
  deviceInfo: Type.Optional(DeviceInfoSchema),
}, { additionalProperties: false });
/** The run registration request. */
export type CreateRunRequest = Static<typeof CreateRunSchema>;

/** Step states on the wire (see src/domain/run.ts). */
export const RunStepStatusSchema = Type.Union([
  Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('continued'), Type.Literal('skipped'),
]);

/** `POST /v1/runs/{id}/steps`: a step started (`running`) or ended. */
export const StepReportSchema = Type.Object({
  key: Type.String({ minLength: 36, maxLength: 1024, pattern: '^[0-9a-fA-F/-]+$' }),
  stepId: Guid,
  name: Type.String({ maxLength: 512 }),
  status: RunStepStatusSchema,
  exitCode: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  durationMs: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
  outputTail: Type.Optional(Type.Union([Type.String({ maxLength: 8192 }), Type.Null()])),
  message: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
}, { additionalProperties: false });
/** A step report. */
export type StepReport = Static<typeof StepReportSchema>;

/** `POST /v1/runs/{id}/finish`. */
export const FinishRunSchema = Type.Object({
  status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('rebooting'), Type.Literal('interrupted')]),
  message: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
}, { additionalProperties: false });
/** The end of a run (or a pause for a restart). */
export type FinishRunRequest = Static<typeof FinishRunSchema>;

/** Largest log chunk accepted by `POST /v1/runs/{id}/log`, in characters. */
export const RUN_LOG_CHUNK_CHARS = 256 * 1024;

/** `POST /v1/runs/{id}/log`: one more piece of the client's log (secrets already masked). */
export const RunLogChunkSchema = Type.Object({
  text: Type.String({ maxLength: RUN_LOG_CHUNK_CHARS }),
}, { additionalProperties: false });
/** A log chunk. */
export type RunLogChunk = Static<typeof RunLogChunkSchema>;

/** `POST /v1/runs/{id}/server-script`: run `<content>/Scripts/<script>` on the server. */
export const ServerScriptSchema = Type.Object({
  script: Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9_][A-Za-z0-9._ -]*$' }),
  arguments: Type.Array(Type.String({ maxLength: 8192 }), { maxItems: 128 }),
  /** At most one hour; default 300. */
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
}, { additionalProperties: false });
/** A server-side script request. */
export type ServerScriptRequest = Static<typeof ServerScriptSchema>;

/** The answer of a server-side script: its exit code, the `{name, value}` objects it printed, the rest of its output. */
export interface ServerScriptResponse {
  /** Null when it was stopped (timeout). */
  exitCode: number | null;
  variables: { name: string; value: string }[];
  /** The end of its other output (standard output lines that were not variables, then standard error). */
  output: string;
  timedOut: boolean;
}

/** A run on the wire (see `RunRecord` in src/domain/run.ts). */
export interface RunSummary {
  id: string;
  taskSequenceId: string;
  versionNo: number;
  name: string;
  device: string | null;
  /** What the client told about the machine, or null. */
  deviceInfo: DeviceInfo | null;
  subject: string;
  method: string;
  context: string;
  status: 'running' | 'succeeded' | 'failed' | 'rebooting' | 'interrupted';
  /** True when the run is running but its client has been silent past `reportBy`. */
  stale: boolean;
  /** When the server expects the client's next report (null when it expects none). */
  reportBy: string | null;
  startedAt: string;
  finishedAt: string | null;
  currentStep: string | null;
  stepsTotal: number | null;
  message: string | null;
  updatedAt: string;
}

/** One step of a run on the wire (see `RunStepRecord`). */
export interface RunStepSummary {
  key: string;
  stepId: string;
  name: string;
  status: 'running' | 'succeeded' | 'failed' | 'continued' | 'skipped';
  exitCode: number | null;
  durationMs: number | null;
  outputTail: string | null;
  message: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** `GET /v1/runs`. */
export interface RunList {
  runs: RunSummary[];
}

/** `GET /v1/runs/{id}`. */
export interface RunDetail extends RunSummary {
  steps: RunStepSummary[];
}

/** `GET /v1/runs/{id}/log`. */
export interface RunLogResponse {
  text: string;
}
