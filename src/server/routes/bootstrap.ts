// `GET /v1/Service/Bootstrap` and `GET /v1/Service/Client` (no token, like DeployR's): a small shell or PowerShell script that fetches the client from this server, checks it, and starts it.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { RUN_PATHS } from '../../api/contract.js';
import { DeployrError } from '../../domain/errors.js';
import { formatReference, parseReference } from '../../domain/reference.js';
import type { ClientBundle } from '../client-bundle.js';

const BootstrapQuerySchema = Type.Object({
  tsid: Type.Optional(Type.String({ maxLength: 80 })),
  shell: Type.Optional(Type.Union([Type.Literal('sh'), Type.Literal('powershell')])),
}, { additionalProperties: false });

/** A Host header we are willing to write into a script: a name or address and an optional port. */
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/** What the scripts need from the service. */
export interface BootstrapDeps {
  /** The TLS certificate's SHA-256 fingerprint (`AB:CD:…`): the client pins the server with it. */
  fingerprint: string;
  /** The certificate's public-key pin (base64 SHA-256 of its SubjectPublicKeyInfo): `curl` pins the server with it. */
  publicKeyPin: string;
  /** The stand-alone client; without it the scripts start a `deployr` already installed on the machine. */
  clientBundle: ClientBundle | null;
}

/** What goes into a script: every value is validated or built here, and is written single-quoted. */
export interface BootstrapScriptValues {
  server: string;
  fingerprint: string;
  tsid: string | null;
  /** Set when the service has the client bundle: the script downloads it and checks this SHA-256. */
  client: { sha256: string; publicKeyPin: string } | null;
}

/** The URL the client should use: the one this request reached (its Host header, validated). */
function serverUrl(req: FastifyRequest): string {
  const host = req.headers.host ?? '';
  if (!HOST_PATTERN.test(host)) throw new DeployrError('INVALID_INPUT', 'The request has no usable Host header.');
  return `https://${host}`;
}

const COMMON_HEADER = [
  '# For an unattended full-OS start give the passcode in the environment (DEPLOYR_VAR_Passcode); this script holds no secret.',
  '# Extra arguments are passed on to the client (for example --var NAME=VALUE or --state-dir DIR).',
];

/** The POSIX shell script. */
export function shellBootstrap(v: BootstrapScriptValues): string {
  const args = [`--server '${v.server}'`, `--fingerprint '${v.fingerprint}'`, ...(v.tsid ? ['--fullos', `--ts '${v.tsid}'`] : [])].join(' ');
  if (!v.client) {
    return [
      '#!/bin/sh',
      '# deployr bootstrap: starts the deployr client against the server that served this script.',
      '# This server has no client bundle to hand out, so the deployr package must be installed here (on PATH, or in the local npm project; npx never downloads it).',
      ...COMMON_HEADER,
      'set -e',
      'if command -v deployr >/dev/null 2>&1; then',
      `  exec deployr client ${args} "$@"`,
      'fi',
      `exec npx --no-install deployr client ${args} "$@"`,
      '',
    ].join('\n');
  }
  return [
    '#!/bin/sh',
    '# deployr bootstrap: downloads the deployr client from the server that served this script, checks its SHA-256, and starts it.',
    '# Needs Node.js 20+ and curl. The client is kept in $DEPLOYR_CLIENT_DIR (default ~/.deployr-client/bootstrap) and reused while its hash matches.',
    ...COMMON_HEADER,
    'set -e',
    `server='${v.server}'`,
    `client_sha256='${v.client.sha256}'`,
    'dir="${DEPLOYR_CLIENT_DIR:-$HOME/.deployr-client/bootstrap}"',
    'client="$dir/deployr-client-$client_sha256.mjs"',
    'fail() { echo "deployr bootstrap: $*" >&2; exit 1; }',
    'sha256_of() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d " " -f 1; else openssl dgst -sha256 -r "$1" | cut -d " " -f 1; fi; }',
    "command -v node >/dev/null 2>&1 || fail 'Node.js 20 or later is needed, and node is not on PATH.'",
    `node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || fail "Node.js 20 or later is needed; this machine has $(node --version)."`,
    "[ -n \"${DEPLOYR_CLIENT_DIR:-${HOME:-}}\" ] || fail 'HOME is not set: set DEPLOYR_CLIENT_DIR to a folder for the client.'",
    'if [ ! -f "$client" ] || [ "$(sha256_of "$client")" != "$client_sha256" ]; then',
    "  command -v curl >/dev/null 2>&1 || fail 'curl is needed to download the client.'",
    '  (umask 077 && mkdir -p "$dir")',
    '  rm -f "$client.part"',
    '  # The server is recognised by its public key (the pin), not by a certificate authority.',
    `  curl -fsS --insecure --pinnedpubkey 'sha256//${v.client.publicKeyPin}' -o "$client.part" "$server${RUN_PATHS.client}" || fail "cannot download the client from $server."`,
    '  if [ "$(sha256_of "$client.part")" != "$client_sha256" ]; then rm -f "$client.part"; fail "the client downloaded from $server does not match its SHA-256 ($client_sha256); it was deleted, not started."; fi',
    '  mv -f "$client.part" "$client"',
    'fi',
    `exec node "$client" client ${args} "$@"`,
    '',
  ].join('\n');
}

/** The PowerShell script (`iex (irm …?shell=powershell)`). */
export function powershellBootstrap(v: BootstrapScriptValues): string {
  const args = [`'--server'`, `'${v.server}'`, `'--fingerprint'`, `'${v.fingerprint}'`, ...(v.tsid ? [`'--fullos'`, `'--ts'`, `'${v.tsid}'`] : [])].join(', ');
  const exitNote = '# The exit code is in $LASTEXITCODE (194: restart the machine, then run this again to continue).';
  if (!v.client) {
    return [
      '# deployr bootstrap: starts the deployr client against the server that served this script.',
      '# This server has no client bundle to hand out, so the deployr package must be installed here (on PATH, or in the local npm project; npx never downloads it).',
      ...COMMON_HEADER,
      `$deployrArgs = @('client', ${args})`,
      "if (Get-Command deployr -ErrorAction SilentlyContinue) { & deployr @deployrArgs @args } else { & npx --no-install deployr @deployrArgs @args }",
      exitNote,
      '',
    ].join('\n');
  }
  const body = [
    "$ErrorActionPreference = 'Stop'",
    "$ProgressPreference = 'SilentlyContinue'",
    `$deployrServer = '${v.server}'`,
    `$deployrClientSha256 = '${v.client.sha256}'`,
    "$deployrDir = if ($env:DEPLOYR_CLIENT_DIR) { $env:DEPLOYR_CLIENT_DIR } else { Join-Path $HOME '.deployr-client/bootstrap' }",
    '$deployrClient = Join-Path $deployrDir "deployr-client-$deployrClientSha256.mjs"',
    "if (-not (Get-Command node -ErrorAction SilentlyContinue)) { throw 'deployr bootstrap: Node.js 20 or later is needed, and node is not on PATH.' }",
    "$deployrNode = (& node --version)",
    "if ([int]($deployrNode.TrimStart('v').Split('.')[0]) -lt 20) { throw \"deployr bootstrap: Node.js 20 or later is needed; this machine has $deployrNode.\" }",
    'if (-not (Test-Path -LiteralPath $deployrClient) -or (Get-FileHash -Algorithm SHA256 -LiteralPath $deployrClient).Hash -ne $deployrClientSha256) {',
    '  New-Item -ItemType Directory -Force -Path $deployrDir | Out-Null',
    '  # Trusted as the request for this script was; the SHA-256 check below is what decides.',
    `  Invoke-WebRequest -UseBasicParsing -Uri "$deployrServer${RUN_PATHS.client}" -OutFile "$deployrClient.part"`,
    '  if ((Get-FileHash -Algorithm SHA256 -LiteralPath "$deployrClient.part").Hash -ne $deployrClientSha256) {',
    '    Remove-Item -LiteralPath "$deployrClient.part"',
    '    throw "deployr bootstrap: the client downloaded from $deployrServer does not match its SHA-256 ($deployrClientSha256); it was deleted, not started."',
    '  }',
    '  Move-Item -Force -LiteralPath "$deployrClient.part" -Destination $deployrClient',
    '}',
    `$deployrArgs = @('client', ${args})`,
    '& node $deployrClient @deployrArgs @args',
  ];
  return [
    '# deployr bootstrap: downloads the deployr client from the server that served this script, checks its SHA-256, and starts it.',
    '# Needs Node.js 20+. The client is kept in $env:DEPLOYR_CLIENT_DIR (default ~/.deployr-client/bootstrap) and reused while its hash matches.',
    ...COMMON_HEADER,
    '# Everything runs in a script block, so that `iex` leaves no variables or preferences behind in the session.',
    '& {',
    ...body.map((line) => `  ${line}`),
    '} @args',
    exitNote,
    '',
  ].join('\n');
}

/** Registers the public bootstrap and client routes. */
export function registerBootstrapRoutes(app: FastifyInstance, deps: BootstrapDeps): void {
  const fingerprint = deps.fingerprint.replace(/[^0-9A-Fa-f:]/g, '');
  const publicKeyPin = deps.publicKeyPin.replace(/[^A-Za-z0-9+/=]/g, '');
  const bundle = deps.clientBundle;
  app.get(RUN_PATHS.bootstrap, { config: { public: true }, schema: { querystring: BootstrapQuerySchema } }, async (req, reply) => {
    const query = req.query as { tsid?: string; shell?: 'sh' | 'powershell' };
    const values: BootstrapScriptValues = {
      server: serverUrl(req), fingerprint,
      tsid: query.tsid === undefined || query.tsid === '' ? null : formatReference(parseReference(query.tsid)),
      client: bundle ? { sha256: bundle.sha256, publicKeyPin } : null,
    };
    // `iex (irm …/Bootstrap)` works as with DeployR: PowerShell's own user agent picks its script when no shell is named.
    const powershell = query.shell === 'powershell' || (query.shell === undefined && /PowerShell\//i.test(req.headers['user-agent'] ?? ''));
    if (powershell) {
      void reply.type('text/plain; charset=utf-8');
      return powershellBootstrap(values);
    }
    void reply.type('text/x-shellscript; charset=utf-8');
    return shellBootstrap(values);
  });
  app.get(RUN_PATHS.client, { config: { public: true } }, async (req, reply) => {
    if (!bundle) throw new DeployrError('NOT_FOUND', 'This server has no client bundle to hand out (it is made by npm run build).');
    const etag = `"${bundle.sha256}"`;
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('text/javascript; charset=utf-8').send(bundle.bytes);
  });
}
