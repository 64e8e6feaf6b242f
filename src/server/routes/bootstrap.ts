// `GET /v1/Service/Bootstrap` (no token, like DeployR's): a small shell or PowerShell script that starts the client against this server.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { RUN_PATHS } from '../../api/contract.js';
import { DeployrError } from '../../domain/errors.js';
import { formatReference, parseReference } from '../../domain/reference.js';

const BootstrapQuerySchema = Type.Object({
  tsid: Type.Optional(Type.String({ maxLength: 80 })),
  shell: Type.Optional(Type.Union([Type.Literal('sh'), Type.Literal('powershell')])),
}, { additionalProperties: false });

/** A Host header we are willing to write into a script: a name or address and an optional port. */
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/** What the script needs: the server's TLS certificate fingerprint (SHA-256). */
export interface BootstrapDeps {
  fingerprint: string;
}

/** The URL the client should use: the one this request reached (its Host header, validated). */
function serverUrl(req: FastifyRequest): string {
  const host = req.headers.host ?? '';
  if (!HOST_PATTERN.test(host)) throw new DeployrError('INVALID_INPUT', 'The request has no usable Host header.');
  return `https://${host}`;
}

/** The POSIX shell script. Every value written into it is validated above, and single-quoted. */
export function shellBootstrap(server: string, fingerprint: string, tsid: string | null): string {
  const args = [`--server '${server}'`, `--fingerprint '${fingerprint}'`, ...(tsid ? ['--fullos', `--ts '${tsid}'`] : [])].join(' ');
  return [
    '#!/bin/sh',
    '# deployr bootstrap: starts the deployr client against the server that served this script.',
    '# Needs Node.js 20+ and the deployr package installed (on PATH, or in the local npm project; npx never downloads it).',
    '# For an unattended full-OS start give the passcode in the environment: DEPLOYR_VAR_Passcode=... sh bootstrap.sh',
    '# Extra arguments are passed on to the client (for example --var NAME=VALUE or --state-dir DIR).',
    'set -e',
    'if command -v deployr >/dev/null 2>&1; then',
    `  exec deployr client ${args} "$@"`,
    'fi',
    `exec npx --no-install deployr client ${args} "$@"`,
    '',
  ].join('\n');
}

/** The PowerShell script (`iex (irm …?shell=powershell)`). */
export function powershellBootstrap(server: string, fingerprint: string, tsid: string | null): string {
  const args = [`'--server'`, `'${server}'`, `'--fingerprint'`, `'${fingerprint}'`, ...(tsid ? [`'--fullos'`, `'--ts'`, `'${tsid}'`] : [])].join(', ');
  return [
    '# deployr bootstrap: starts the deployr client against the server that served this script.',
    '# Needs Node.js 20+ and the deployr package installed (on PATH, or in the local npm project; npx never downloads it).',
    '# For an unattended full-OS start set $env:DEPLOYR_VAR_Passcode first.',
    `$deployrArgs = @('client', ${args})`,
    "if (Get-Command deployr -ErrorAction SilentlyContinue) { & deployr @deployrArgs @args } else { & npx --no-install deployr @deployrArgs @args }",
    '# The exit code is in $LASTEXITCODE (194: restart the machine, then run this again to continue).',
    '',
  ].join('\n');
}

/** Registers the public bootstrap route. */
export function registerBootstrapRoutes(app: FastifyInstance, deps: BootstrapDeps): void {
  app.get(RUN_PATHS.bootstrap, { config: { public: true }, schema: { querystring: BootstrapQuerySchema } }, async (req, reply) => {
    const query = req.query as { tsid?: string; shell?: 'sh' | 'powershell' };
    const tsid = query.tsid === undefined || query.tsid === '' ? null : formatReference(parseReference(query.tsid));
    const server = serverUrl(req);
    const fingerprint = deps.fingerprint.replace(/[^0-9A-Fa-f:]/g, '');
    if (query.shell === 'powershell') {
      void reply.type('text/plain; charset=utf-8');
      return powershellBootstrap(server, fingerprint, tsid);
    }
    void reply.type('text/x-shellscript; charset=utf-8');
    return shellBootstrap(server, fingerprint, tsid);
  });
}
