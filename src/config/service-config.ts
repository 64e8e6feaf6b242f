// Loads the service's own settings (home, ports, TLS files, token lifetime) into one typed object.

import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeForMessage } from '../domain/input-description.js';
import { parsePostgresUrl } from '../domain/postgres-url.js';

/** Everything the service needs to start. Security settings live in the store, not here. */
export interface ServiceConfig {
  /** The home folder: database, TLS files, keys, content library. */
  home: string;
  /** HTTPS port for clients (all interfaces). */
  port: number;
  /** Address the HTTPS listener binds to. */
  host: string;
  /** Plain HTTP port on 127.0.0.1 for local admin tools. */
  localPort: number;
  /** Configured certificate and key files; when absent a self-signed pair under the home is used. */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  /** Lifetime of issued tokens, in seconds. */
  tokenTtlSeconds: number;
  /** A running run whose client has not reported for this long, in seconds, is shown as stale. */
  runStaleAfterSeconds: number;
  /** How often a running service looks for changed settings, in milliseconds. */
  settingsPollMs: number;
  /** pino log level. */
  logLevel: string;
  /** JSON lines, readable lines, or readable on a terminal and JSON otherwise (`--log-format`, `DEPLOYR_LOG_FORMAT`). */
  logFormat: LogFormat;
  /** Worker processes serving the same ports (node:cluster); 1 = the service runs in this process. */
  workers: number;
  /** An HTTPS connection on which nothing is read or written for this long, in milliseconds, is closed. */
  idleTimeoutMs: number;
  /** A request whose headers and body have not all arrived this long after it began, in milliseconds, is answered 408 and its connection closed. */
  requestTimeoutMs: number;
  /** A console session unused for this long ends, in seconds (`DEPLOYR_ADMIN_SESSION_IDLE`, default 1800). */
  adminSessionIdleSeconds: number;
  /** A console session ends this long after sign-in, in seconds (`DEPLOYR_ADMIN_SESSION_MAX`, default 43200). */
  adminSessionMaxSeconds: number;
  /** A plain-HTTP port serving only the boot media (/Content/Boot/*) for stock iPXE; null = off (the default). */
  bootHttpPort: number | null;
}

/** How the service writes its log: JSON lines, readable lines, or readable on a terminal and JSON otherwise. */
export type LogFormat = 'json' | 'pretty' | 'auto';

/** Parses `--log-format` / `DEPLOYR_LOG_FORMAT` (default auto). */
export function parseLogFormat(value: string | undefined): LogFormat {
  const v = (value ?? 'auto').trim().toLowerCase();
  if (v === 'json' || v === 'pretty' || v === 'auto') return v;
  throw new Error(`--log-format must be json, pretty or auto (the value given: ${describeForMessage(value ?? '')})`);
}

/** The default ports, as DeployR uses them. */
export const DEFAULT_PORT = 7281;
/** The local admin port, as DeployR uses it. */
export const DEFAULT_LOCAL_PORT = 7282;

/** Paths inside the home. */
export interface HomePaths {
  database: string;
  auditKey: string;
  /** The key-encryption key that seals the token-signing keys in the database. */
  signingKek: string;
  tlsDir: string;
  tlsCert: string;
  tlsKey: string;
  content: string;
  logs: string;
  /** Boot media published under /Content/Boot/ (`deployr media build` writes here by default). */
  media: string;
}

/** The home folder: `--home`, else `$DEPLOYR_HOME`, else `~/.deployr`. */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.DEPLOYR_HOME ?? join(homedir(), '.deployr'));
}

/** The files and folders under a home; the content library moves to `DEPLOYR_CONTENT_DIR` when it is set (`--content-dir`). */
export function homePaths(home: string, env: NodeJS.ProcessEnv = process.env): HomePaths {
  const contentDir = env.DEPLOYR_CONTENT_DIR?.trim();
  return {
    database: join(home, 'deployr.db'),
    auditKey: join(home, 'audit.key'),
    signingKek: join(home, 'keys', 'signing-kek'),
    tlsDir: join(home, 'tls'),
    tlsCert: join(home, 'tls', 'server.crt'),
    tlsKey: join(home, 'tls', 'server.key'),
    content: contentDir ? resolve(contentDir) : join(home, 'content'),
    logs: join(home, 'logs'),
    media: join(home, 'media'),
  };
}

/** Where the state lives: the home's SQLite file (the default), another SQLite file, or a PostgreSQL database shared by several nodes. */
export type DatabaseLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/**
 * Parses `--database` / `DEPLOYR_DATABASE_URL`: `sqlite:PATH` (relative to the working folder),
 * `postgres://…` or `postgresql://…`; unset means the home's `deployr.db`.
 */
export function parseDatabaseLocation(value: string | undefined, homeDatabase: string): DatabaseLocation {
  const v = value?.trim();
  if (!v) return { kind: 'sqlite', file: homeDatabase };
  if (/^sqlite:/i.test(v)) {
    const path = v.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new Error('--database sqlite: needs a file, as in sqlite:/srv/deployr/deployr.db');
    return { kind: 'sqlite', file: resolve(path) };
  }
  if (/^postgres(ql)?:\/\//i.test(v)) {
    try { new URL(v); } catch { throw new Error(`--database is not a valid postgres:// URL (the value given: ${describeForMessage(v)})`); }
    // Its ?schema= and ?pool= too, here, so a typing error is named at the flag before anything is opened.
    try { parsePostgresUrl(v); } catch (err) { throw new Error(`--database: ${(err as Error).message.replace(/\.$/, '')}`); }
    return { kind: 'postgres', url: v };
  }
  throw new Error(`--database must be sqlite:PATH or postgres://USER@HOST:PORT/DATABASE (the value given: ${describeForMessage(v)})`);
}

/** A PostgreSQL URL fit for messages and logs: the password, if any, replaced. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the PostgreSQL URL given';
  }
}

function parsePort(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number from 0 to 65535 (the value given: ${describeForMessage(value)})`);
  return n;
}

function parsePositive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (the value given: ${describeForMessage(value)})`);
  return n;
}

/** `--workers` / `DEPLOYR_WORKERS`: a whole number from 1 to 256, or `auto` (one per CPU). */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  if (value.trim().toLowerCase() === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers must be a whole number from 1 to 256 or "auto" (the value given: ${describeForMessage(value)})`);
  return n;
}

/** `DEPLOYR_RUN_STALE_AFTER`: seconds, or a duration such as 90s, 10m, 2h (default 5 minutes). */
export function parseStaleAfter(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 300;
  const m = /^(\d+)\s*([smh]?)$/.exec(value.trim());
  const seconds = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600 }[m[2] as '' | 's' | 'm' | 'h'] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1) throw new Error(`DEPLOYR_RUN_STALE_AFTER must be a number of seconds or a duration such as 90s, 10m or 2h (the value given: ${describeForMessage(value)})`);
  return seconds;
}

/** Builds the config from command-line flags and environment variables (flags win). */
export function loadServiceConfig(flags: { home?: string; port?: string; localPort?: string; host?: string; tlsCert?: string; tlsKey?: string; workers?: string; logFormat?: string; bootHttpPort?: string }, env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return {
    home: resolveHome(flags.home, env),
    port: parsePort(flags.port ?? env.DEPLOYR_PORT, DEFAULT_PORT, '--port'),
    host: flags.host ?? env.DEPLOYR_HOST_ADDRESS ?? '0.0.0.0',
    localPort: parsePort(flags.localPort ?? env.DEPLOYR_LOCAL_PORT, DEFAULT_LOCAL_PORT, '--local-port'),
    tlsCertFile: flags.tlsCert ?? env.DEPLOYR_TLS_CERT ?? null,
    tlsKeyFile: flags.tlsKey ?? env.DEPLOYR_TLS_KEY ?? null,
    tokenTtlSeconds: parsePositive(env.DEPLOYR_TOKEN_TTL, 3600, 'DEPLOYR_TOKEN_TTL'),
    runStaleAfterSeconds: parseStaleAfter(env.DEPLOYR_RUN_STALE_AFTER),
    settingsPollMs: parsePositive(env.DEPLOYR_SETTINGS_POLL_MS, 1000, 'DEPLOYR_SETTINGS_POLL_MS'),
    logLevel: env.DEPLOYR_LOG_LEVEL ?? 'info',
    logFormat: parseLogFormat(flags.logFormat ?? env.DEPLOYR_LOG_FORMAT),
    workers: parseWorkers(flags.workers ?? env.DEPLOYR_WORKERS),
    idleTimeoutMs: parsePositive(env.DEPLOYR_IDLE_TIMEOUT_MS, 120_000, 'DEPLOYR_IDLE_TIMEOUT_MS'),
    requestTimeoutMs: parsePositive(env.DEPLOYR_REQUEST_TIMEOUT_MS, 60_000, 'DEPLOYR_REQUEST_TIMEOUT_MS'),
    adminSessionIdleSeconds: parsePositive(env.DEPLOYR_ADMIN_SESSION_IDLE, 1800, 'DEPLOYR_ADMIN_SESSION_IDLE'),
    adminSessionMaxSeconds: parsePositive(env.DEPLOYR_ADMIN_SESSION_MAX, 43_200, 'DEPLOYR_ADMIN_SESSION_MAX'),
    bootHttpPort: (flags.bootHttpPort ?? env.DEPLOYR_BOOT_HTTP_PORT) === undefined ? null : parsePort(flags.bootHttpPort ?? env.DEPLOYR_BOOT_HTTP_PORT, 0, '--boot-http-port'),
  };
}
