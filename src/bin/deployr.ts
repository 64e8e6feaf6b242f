#!/usr/bin/env node
// The `deployr` command: the composition root that wires the concrete store into the service, the configuration tool and the client.

import { scopedPasscodeState } from '../domain/scoped-passcode.js';
import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Command, Option } from 'commander';
import { PATHS, type LocalStatus } from '../api/contract.js';
import { createArgon2Hasher } from '../auth/passcode-hasher.js';
import { SecurityAdmin } from '../auth/security-admin.js';
import { buildClientCertTlsOptions } from '../auth/tls-trust.js';
import { configureCheck, configureInteractive, configureSecurity, configureShow, type ConfigureDeps, type SecurityFlags } from '../cli/configure.js';
import { auditExport, auditList, auditVerify, type AuditListFlags } from '../cli/audit-commands.js';
import { throttleClear, throttleList } from '../cli/throttle-commands.js';
import { registerAdminCommands } from './admin-command.js';
import { registerPasscodeCommands } from './passcode-command.js';
import { keysList, keysRotate, keysRotateKek } from '../cli/keys-commands.js';
import { contentActivate, contentAddVersion, contentCreate, contentDeactivate, contentDelete, contentDeleteVersion, contentGc, contentList, contentShow } from '../cli/content-commands.js';
import { commandExit as exit, endQuietlyOnClosedOutput, processIo } from '../cli/output.js';
import { tsActivate, tsDelete, tsExport, tsImport, tsList, tsShow } from '../cli/task-sequence-commands.js';
import { stepActivate, stepDelete, stepExport, stepImport, stepList, stepShow } from '../cli/step-definition-commands.js';
import { runsDelete, runsList, runsPrune, runsShow, runsWatch } from '../cli/run-commands.js';
import { mediaBuild, mediaBuilder, mediaDnsmasq, mediaStatus, type MediaBuildFlags } from '../cli/media-commands.js';
import { RunRegistry } from '../engine/run-registry.js';
import { registerClientCommand } from '../cli/client-command.js';
import { createPrompter } from '../client/prompt.js';
import { DEFAULT_LOCAL_PORT, homePaths, loadServiceConfig, parseDatabaseLocation, redactDatabaseUrl, resolveHome } from '../config/service-config.js';
import { dbCopy, dbMigrate } from '../cli/db-commands.js';
import { copySqliteToPostgres } from '../store/copy-to-postgres.js';
import { migratePostgres } from '../store/postgres/migrations.js';
import { migrateSqliteFile } from '../store/sqlite/connection.js';
import { DeployrError } from '../domain/errors.js';
import { ContentCatalog } from '../engine/content-catalog.js';
import { ContentLibrary } from '../engine/content-library.js';
import { ContentLifecycle } from '../engine/content-lifecycle.js';
import { TaskSequenceCatalog } from '../engine/task-sequence-catalog.js';
import { StepDefinitionCatalog } from '../engine/step-definition-catalog.js';
import { createServiceLogger } from '../server/logger.js';
import { readServicePorts, writeServicePorts } from '../config/service-ports.js';
import { configuredMethods } from '../domain/security-settings.js';
import { runService } from '../server/service.js';
import { homeAuditChainKey, kekFile, openHomeStore, openSigningKeys, type OpenedStore } from './open-store.js';
import { CLIENT_BUNDLE_PATH, printBanner, serveWithWorkers } from './serve-cluster.js';
import { createFsBlobStore } from '../store/fs-blob-store.js';
import { describeForMessage } from '../domain/input-description.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

endQuietlyOnClosedOutput();

/** Asks the local listener what the running service applies; null when nothing answers. */
function localStatus(port: number): Promise<LocalStatus | null> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: PATHS.localStatus, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => { try { resolve(res.statusCode === 200 ? (JSON.parse(body) as LocalStatus) : null); } catch { resolve(null); } });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

function homeOption(): Option {
  return new Option('--home <dir>', 'the home folder (default: $DEPLOYR_HOME or ~/.deployr)');
}

function localPortOption(): Option {
  return new Option('--local-port <n>', `the local admin port of the running service (default: the one deployr serve last used with this home, else ${DEFAULT_LOCAL_PORT})`);
}

const program = new Command('deployr')
  .description('deployr: OS deployment server and client (task sequences, content, and who may run them)')
  .version(VERSION)
  .showHelpAfterError()
  .enablePositionalOptions();

program.command('serve')
  .description('run the service: HTTPS API on --port (7281), local admin HTTP on 127.0.0.1:--local-port (7282)')
  .addOption(homeOption())
  .option('--port <n>', 'HTTPS port (all interfaces)')
  .option('--local-port <n>', 'plain HTTP port on 127.0.0.1 for local admin tools')
  .option('--host <address>', 'address the HTTPS port binds to (default 0.0.0.0)')
  .option('--tls-cert <file>', 'a configured TLS certificate (PEM, with its chain) instead of the self-signed one')
  .option('--tls-key <file>', 'its private key (PEM)')
  .option('--workers <n>', 'worker processes sharing the ports (default 1, or $DEPLOYR_WORKERS; "auto" = one per CPU)')
  .option('--log-format <format>', 'json, pretty or auto (default auto, or $DEPLOYR_LOG_FORMAT: readable lines on a terminal, JSON lines otherwise)')
  .option('--boot-http-port <n>', 'also serve the boot media (/Content/Boot/* only) over plain HTTP on this port, for stock iPXE (off by default)')
  .action(async (flags: { home?: string; port?: string; localPort?: string; host?: string; tlsCert?: string; tlsKey?: string; workers?: string; logFormat?: string; bootHttpPort?: string }) => {
    await exit(async () => {
      const config = loadServiceConfig(flags);
      const say = (line: string): void => { process.stderr.write(line + '\n'); };
      // Whatever the service (and a server-side script it runs) creates is owner-only, besides the explicit modes.
      process.umask(0o077);
      if (config.workers > 1 || cluster.isWorker) return serveWithWorkers(config, VERSION, say);
      const opened = await openHomeStore(config.home, { warn: say, deep: true });
      const { store, paths, digestKey } = opened;
      const signingKeys = await openKeysOrClose(opened);
      const logger = createServiceLogger(config.logLevel, config.logFormat);
      const methods = configuredMethods((await store.getSecurity()).settings);
      const service = await runService({ config, store, digestKey, signingKeys: signingKeys.source, paths: { tlsCert: paths.tlsCert, tlsKey: paths.tlsKey }, logger, version: VERSION, say, blobs: createFsBlobStore(paths.content), clientBundlePath: CLIENT_BUNDLE_PATH, bootMedia: mediaBuilder(paths.media, { clientBundle: CLIENT_BUNDLE_PATH, version: VERSION }) });
      writeServicePorts(config.home, { port: service.port, localPort: service.localPort, pid: process.pid, startedAt: new Date().toISOString() });
      printBanner(say, { version: VERSION, home: config.home, certFile: config.tlsCertFile ?? paths.tlsCert, port: service.port, localPort: service.localPort, fingerprint: service.tls.fingerprint, created: service.tls.created, workers: 1, methods, bootHttpPort: service.bootHttpPort });
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          say(`${signal}: stopping…`);
          service.stop().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      return 0;
    });
  });

/** `openSigningKeys`, closing the store when it refuses (a missing KEK file), so the one-line error is all that happens. */
async function openKeysOrClose(opened: OpenedStore): Promise<Awaited<ReturnType<typeof openSigningKeys>>> {
  try { return await openSigningKeys(opened); } catch (err) { await opened.store.close(); throw err; }
}

/** The local admin port: `--local-port`, else the one `serve` last used with this home (`service.json`), else 7282. */
function localPortFor(home: string, flag: string | undefined): number {
  if (flag !== undefined) {
    const n = Number(flag);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new DeployrError('INVALID_INPUT', `--local-port must be a port number from 1 to 65535 (the value given: ${describeForMessage(flag)}).`);
    return n;
  }
  return readServicePorts(home)?.localPort ?? DEFAULT_LOCAL_PORT;
}

async function configureDeps(homeFlag: string | undefined, localPort: string | undefined): Promise<ConfigureDeps & { close(): Promise<void> }> {
  const home = resolveHome(homeFlag);
  const port = localPortFor(home, localPort);
  const { store } = await openHomeStore(home);
  const prompter = createPrompter();
  return {
    admin: new SecurityAdmin(store, createArgon2Hasher()),
    readSettings: () => store.getSecurity(),
    prompter, io: processIo, localPort: port,
    serviceStatus: () => localStatus(port),
    failedLogins: async () => { const { global } = await store.throttleState([]); return { consecutive: global.consecutiveFailures, alertSince: global.alertSince }; },
    scopedPasscodeCounts: async () => {
      const now = Date.now();
      const counts: Record<string, number> = {};
      for (const p of await store.listScopedPasscodes()) { const state = scopedPasscodeState(p, now); counts[state] = (counts[state] ?? 0) + 1; }
      return counts;
    },
    close: async () => { prompter.close(); await store.close(); },
  };
}

/**
 * Checks a client-certificate CA bundle (every certificate a CA) and CRL file (readable, parsable)
 * the way the service will load them, so bad input is refused before anything is saved.
 */
function checkClientCertificateTrust(caFile: string, crlFile: string | undefined): void {
  let caPem: string;
  try { caPem = readFileSync(caFile, 'utf8'); } catch { return; } // configureSecurity reports the unreadable file
  try {
    buildClientCertTlsOptions({ caPem, requireClientAuthEku: true, ...(crlFile ? { crlPath: crlFile } : {}) });
  } catch (err) {
    if (err instanceof DeployrError) throw new DeployrError(err.code, `${err.message} Nothing changed.`, { ...err.details });
    throw err;
  }
}

const configure = program.command('configure')
  .description('the configuration tool; without a subcommand, an interactive menu (on a terminal)')
  .enablePositionalOptions()
  .addOption(homeOption())
  .addOption(localPortOption())
  .action(async (flags: { home?: string; localPort?: string }) => {
    await exit(async () => {
      const deps = await configureDeps(flags.home, flags.localPort);
      try { return await configureInteractive(deps); } finally { await deps.close(); }
    });
  });

configure.command('security')
  .description('security settings: passcode, Entra ID, client certificates, bypass (anonymous) mode, rotation')
  .addOption(homeOption())
  .option('--passcode', 'set the passcode: prompts "Passcode" and "Verify passcode" (masked), or reads two lines from standard input')
  .option('--clear-passcode', 'remove the passcode')
  .option('--overlap <duration>', 'after a passcode change, the old one keeps working this long (e.g. 2h; 0 = off, the default); also ends (0) or shortens an overlap already running')
  .option('--end-overlap', 'end a running rotation overlap now: the previous passcode and its tokens stop')
  .option('--remind-after <duration>', 'warn when the passcode is older than this (e.g. 90d; 0 = off)')
  .option('--bypass <on|off>', 'bypass (anonymous) authentication: lab use only')
  .option('--entra-tenant <id>', 'Entra ID tenant id')
  .option('--entra-client-id <id>', 'Entra ID application (client) id')
  .option('--entra-role <name>', 'the app role a technician must hold')
  .option('--entra-authority <url>', 'the authority (default https://login.microsoftonline.com)')
  .option('--clear-entra', 'remove the Entra ID settings')
  .option('--cert-ca <file>', 'PEM bundle of CAs whose client certificates are trusted')
  .option('--cert-subject <glob>', 'accept only certificates whose subject CN matches (e.g. *.contoso.com)')
  .option('--cert-san <glob>', 'accept only certificates with a matching DNS/URI/email SAN')
  .option('--cert-crl <file>', 'a CRL file, reloaded without a restart')
  .option('--cert-allow-no-eku', 'accept certificates without an extended key usage extension')
  .option('--clear-cert', 'remove client-certificate trust')
  .action(async (flags: SecurityFlags & { home?: string }, cmd: Command) => {
    await exit(async () => {
      if (flags.certCa) checkClientCertificateTrust(flags.certCa, flags.certCrl);
      const parentHome = (cmd.parent?.opts() as { home?: string }).home;
      const deps = await configureDeps(flags.home ?? parentHome, (cmd.parent?.opts() as { localPort?: string }).localPort);
      try { return await configureSecurity(flags, deps); } finally { await deps.close(); }
    });
  });

configure.command('show')
  .description('print every setting (the passcode only as set/not set, with when it last changed)')
  .addOption(homeOption())
  .addOption(localPortOption())
  .action(async (flags: { home?: string; localPort?: string }, cmd: Command) => {
    await exit(async () => {
      const parent = cmd.parent?.opts() as { home?: string; localPort?: string };
      const deps = await configureDeps(flags.home ?? parent.home, flags.localPort ?? parent.localPort);
      try { return await configureShow(deps); } finally { await deps.close(); }
    });
  });

configure.command('check')
  .description('is the service running, and has it applied the current settings? (exit 0 when both)')
  .addOption(homeOption())
  .addOption(localPortOption())
  .action(async (flags: { home?: string; localPort?: string }, cmd: Command) => {
    await exit(async () => {
      const parent = cmd.parent?.opts() as { home?: string; localPort?: string };
      const deps = await configureDeps(flags.home ?? parent.home, flags.localPort ?? parent.localPort);
      try { return await configureCheck(deps); } finally { await deps.close(); }
    });
  });

/** Runs `body` on the store of an existing home (never makes one: see openHomeStore). */
async function withStore<T>(home: string | undefined, body: (s: OpenedStore) => Promise<T>): Promise<T> {
  const opened = await openHomeStore(resolveHome(home), { mustExist: true });
  return body(opened).finally(() => opened.store.close());
}

const ts = program.command('ts').description('task sequences');
ts.command('import').argument('<files...>', 'DeployR task sequence export JSON files').addOption(homeOption())
  .description('import DeployR task sequence exports (replaces one with the same id)')
  .action(async (files: string[], flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => tsImport(files, new TaskSequenceCatalog(store), processIo))));
ts.command('list').addOption(homeOption()).option('--json', 'JSON output').description('list task sequences')
  .action(async (flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => tsList(new TaskSequenceCatalog(store), processIo, Boolean(flags.json)))));
ts.command('show').argument('<id>').addOption(homeOption()).option('--json', 'the full export JSON').description('show a task sequence and its steps')
  .action(async (id: string, flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => tsShow(id, new TaskSequenceCatalog(store), new StepDefinitionCatalog(store), processIo, Boolean(flags.json)))));
ts.command('export').argument('<id>').addOption(homeOption()).option('--out <file>', 'write to this file instead of standard output').option('--pretty', 'indented JSON')
  .description('export a task sequence as DeployR export JSON')
  .action(async (id: string, flags: { home?: string; out?: string; pretty?: boolean }) => exit(() => withStore(flags.home, ({ store }) => tsExport(id, new TaskSequenceCatalog(store), processIo, flags))));
ts.command('activate').argument('<id>').argument('<version>').addOption(homeOption()).description('make a version Active (only Active versions run)')
  .action(async (id: string, version: string, flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => tsActivate(id, version, new TaskSequenceCatalog(store), processIo))));
ts.command('delete').argument('<id>').addOption(homeOption()).description('delete a task sequence with every version (refused while another task sequence runs it; its past runs stay)')
  .action(async (id: string, flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => tsDelete(id, new TaskSequenceCatalog(store), processIo))));

const step = program.command('step').description('custom step definitions');
step.command('import').argument('<files...>', 'DeployR step definition export JSON files').addOption(homeOption())
  .description('import DeployR step definition exports (replaces one with the same id)')
  .action(async (files: string[], flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => stepImport(files, new StepDefinitionCatalog(store), processIo))));
step.command('list').addOption(homeOption()).option('--json', 'JSON output').description('list step definitions')
  .action(async (flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => stepList(new StepDefinitionCatalog(store), processIo, Boolean(flags.json)))));
step.command('show').argument('<id>').addOption(homeOption()).option('--json', 'the full export JSON').description('show a step definition, its versions and options')
  .action(async (id: string, flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => stepShow(id, new StepDefinitionCatalog(store), processIo, Boolean(flags.json)))));
step.command('export').argument('<id>').addOption(homeOption()).option('--out <file>', 'write to this file instead of standard output').option('--pretty', 'indented JSON')
  .description('export a step definition as DeployR export JSON')
  .action(async (id: string, flags: { home?: string; out?: string; pretty?: boolean }) => exit(() => withStore(flags.home, ({ store }) => stepExport(id, new StepDefinitionCatalog(store), processIo, flags))));
step.command('activate').argument('<id>').argument('<version>').addOption(homeOption()).description('make a version Active (only Active versions run)')
  .action(async (id: string, version: string, flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => stepActivate(id, version, new StepDefinitionCatalog(store), processIo))));
step.command('delete').argument('<id>').addOption(homeOption()).description('delete a step definition with every version (refused while a task sequence uses it)')
  .action(async (id: string, flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => stepDelete(id, new StepDefinitionCatalog(store), processIo))));

const runs = program.command('runs').description('runs of task sequences: progress and the result of each step');
runs.command('list').addOption(homeOption()).option('--json', 'JSON output').option('--limit <n>', 'at most this many, newest first (default 50)').description('list runs, newest first')
  .action(async (flags: { home?: string; json?: boolean; limit?: string }) => exit(() => withStore(flags.home, ({ store }) => runsList(new RunRegistry({ store }), processIo, flags))));
runs.command('show').argument('<id>').addOption(homeOption()).option('--json', 'JSON output').option('--log', 'also the uploaded log').description('show a run and its steps')
  .action(async (id: string, flags: { home?: string; json?: boolean; log?: boolean }) => exit(() => withStore(flags.home, ({ store }) => runsShow(id, new RunRegistry({ store }), processIo, flags))));
runs.command('watch').argument('<id>').addOption(homeOption()).description('follow a run until it ends (exit 0 when it succeeded, 2 when it failed)')
  .action(async (id: string, flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => runsWatch(id, new RunRegistry({ store }), processIo))));
runs.command('prune').addOption(homeOption()).requiredOption('--older-than <duration>', 'for example 90d: runs with no change for longer are deleted').description('delete old runs with their steps and logs (audited)')
  .action(async (flags: { home?: string; olderThan: string }) => exit(() => withStore(flags.home, ({ store }) => runsPrune(new RunRegistry({ store }), processIo, flags))));
runs.command('delete').argument('<id>').addOption(homeOption()).description('delete one run with its steps and log (audited)')
  .action(async (id: string, flags: { home?: string }) => exit(() => withStore(flags.home, ({ store }) => runsDelete(id, new RunRegistry({ store }), processIo))));

const content = program.command('content').description('content items');
content.command('create').addOption(homeOption()).requiredOption('--name <name>').requiredOption('--purpose <purpose>', 'Application, DriverPack, OperatingSystem or Other')
  .requiredOption('--type <type>', 'Folder or SingleFile').option('--description <text>').description('create a content item (metadata)')
  .action(async (flags: { home?: string; name: string; purpose: string; type: string; description?: string }) =>
    exit(() => withStore(flags.home, ({ store }) => contentCreate(flags, new ContentCatalog(store), processIo))));
content.command('list').addOption(homeOption()).option('--json', 'JSON output').description('list content items')
  .action(async (flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => contentList(new ContentCatalog(store), processIo, Boolean(flags.json)))));
content.command('show').argument('<id>').addOption(homeOption()).option('--json', 'the full JSON document').description('show a content item, its versions and files')
  .action(async (id: string, flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => contentShow(id, new ContentCatalog(store), processIo, Boolean(flags.json)))));
content.command('add-version').argument('<id>').argument('<path>', 'a file (SingleFile) or a folder (Folder)').addOption(homeOption())
  .option('--description <text>').option('--install-command <cmd>', 'for applications: the command line that installs it')
  .option('--driver-manufacturer <make>', 'for driver packs').option('--driver-model <model>', 'for driver packs')
  .option('--format <format>', 'for disk images (SingleFile): raw, raw+gzip or raw+zst (default: from the file name: .gz, .zst, .img/.raw)')
  .description('add a version from a file or folder (copied into the content library; inactive until activated)')
  .action(async (id: string, path: string, flags: { home?: string; description?: string; installCommand?: string; driverManufacturer?: string; driverModel?: string; format?: string }) =>
    exit(() => withStore(flags.home, ({ store, paths }) => contentAddVersion(id, path, flags, new ContentLibrary(store, createFsBlobStore(paths.content)), processIo))));
content.command('activate').argument('<id>').argument('<version>').addOption(homeOption()).description('make a version active (deployable)')
  .action(async (id: string, version: string, flags: { home?: string }) =>
    exit(() => withStore(flags.home, ({ store, paths }) => contentActivate(id, version, new ContentLibrary(store, createFsBlobStore(paths.content)), processIo))));
content.command('deactivate').argument('<id>').argument('<version>').addOption(homeOption()).option('--force', 'even when a task sequence or step definition uses it')
  .description('make a version inactive (clients refuse it); refused while something uses it')
  .action(async (id: string, version: string, flags: { home?: string; force?: boolean }) =>
    exit(() => withStore(flags.home, ({ store, paths }) => contentDeactivate(id, version, flags, new ContentLifecycle(store, createFsBlobStore(paths.content)), processIo))));
content.command('delete-version').argument('<id>').argument('<version>').addOption(homeOption()).option('--force', 'even when a task sequence or step definition uses it')
  .description('delete an inactive version (its number is never reused; its files go at the next gc)')
  .action(async (id: string, version: string, flags: { home?: string; force?: boolean }) =>
    exit(() => withStore(flags.home, ({ store, paths }) => contentDeleteVersion(id, version, flags, new ContentLifecycle(store, createFsBlobStore(paths.content)), processIo))));
content.command('delete').argument('<id>').addOption(homeOption()).option('--force', 'even when a task sequence or step definition uses one of its versions')
  .description('delete a content item whose versions are all inactive (its files go at the next gc)')
  .action(async (id: string, flags: { home?: string; force?: boolean }) =>
    exit(() => withStore(flags.home, ({ store, paths }) => contentDelete(id, flags, new ContentLifecycle(store, createFsBlobStore(paths.content)), processIo))));
content.command('gc').addOption(homeOption()).option('--dry-run', 'only list what would be removed').option('--grace <duration>', 'keep unlisted files written within this time (default 1h)')
  .description('remove library files that no content version lists')
  .action(async (flags: { home?: string; dryRun?: boolean; grace?: string }) =>
    exit(() => withStore(flags.home, ({ store, paths }) => contentGc(flags, new ContentLifecycle(store, createFsBlobStore(paths.content)), processIo))));

const throttle = program.command('throttle').description('failed-login counters: which sources must wait, and letting them try again');
throttle.command('list').addOption(homeOption()).option('--json', 'JSON output').description('every failure counter (by address and device) and the consecutive-failure alert')
  .action(async (flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => throttleList(store, processIo, Boolean(flags.json)))));
throttle.command('clear').argument('[address]', 'the address as `deployr throttle list` shows it (every device at it)').addOption(homeOption())
  .option('--all', 'every source').option('--alert', 'also the consecutive-failure count and alert (passcode checks at full speed again)')
  .description('let a source (or all) try again at once; audited')
  .action(async (address: string | undefined, flags: { home?: string; all?: boolean; alert?: boolean }) => exit(() => withStore(flags.home, ({ store }) => throttleClear(address, flags, store, processIo))));

const keys = program.command('keys').description('token-signing keys: list them (never key material), rotate them');
keys.command('list').addOption(homeOption()).option('--json', 'JSON output').description('every signing key: id, created, state (active, verify-only, retired)')
  .action(async (flags: { home?: string; json?: boolean }) => exit(() => withStore(flags.home, ({ store }) => keysList(store, processIo, Boolean(flags.json)))));
keys.command('rotate').addOption(homeOption())
  .option('--verify-for <duration>', 'how long the old key still verifies tokens (default: DEPLOYR_TOKEN_TTL + 5m; 0 = refuse its tokens at once)')
  .description('a new key signs from now on; the old one verifies tokens it signed until they have expired, then it is retired (audited)')
  .action(async (flags: { home?: string; verifyFor?: string }) => exit(() => withStore(flags.home, async (opened) => {
    const { kek } = await openSigningKeys(opened);
    return keysRotate(opened.store, kek, processIo, flags, loadServiceConfig({}).tokenTtlSeconds);
  })));
keys.command('rotate-kek').addOption(homeOption())
  .description('seal every signing key under a new key-encryption key (keys/signing-kek) and replace the file (audited)')
  .action(async (flags: { home?: string }) => exit(() => withStore(flags.home, async (opened) => {
    await openSigningKeys(opened);
    return keysRotateKek(opened.store, kekFile(opened.paths), processIo);
  })));

const audit = program.command('audit').description('the audit trail (every login attempt and settings change)')
  .addOption(homeOption())
  .option('--since <time|duration>', 'only entries since a time or for a duration back (e.g. 2h)')
  .option('--method <method>', 'passcode, anonymous, certificate, entra, security, …')
  .option('--result <result>', 'success, failure, changed, …')
  .option('--kind <kind>', 'login, settings, alert, throttle, content, task-sequence, step-definition, run, keys')
  .option('--limit <n>', 'only the newest n entries')
  .option('--json', 'JSON lines')
  .action(async (flags: AuditListFlags & { home?: string }) => exit(() => withStore(flags.home, ({ store }) => auditList(flags, store, processIo))));
audit.command('verify').addOption(homeOption()).description('check the HMAC chain: detects edited or deleted entries')
  .option('--anchor <seq:mac>', 'a head printed by an earlier verify (or the last line of an export): detects entries cut off the end')
  .action(async (flags: { home?: string; anchor?: string }, cmd: Command) => exit(() => withStore(flags.home ?? (cmd.parent?.opts() as { home?: string }).home, ({ store }) => auditVerify(store, processIo, flags))));
audit.command('export').addOption(homeOption()).description('every entry as JSON lines')
  .action(async (flags: { home?: string }, cmd: Command) => exit(() => withStore(flags.home ?? (cmd.parent?.opts() as { home?: string }).home, ({ store }) => auditExport(store, processIo))));

const db = program.command('db').description('the store: schema migrations, and moving a single-node install into PostgreSQL');
db.command('migrate').addOption(homeOption())
  .description('bring the schema of the store (--database, else the home\'s deployr.db) up to this version (a node also does this at start)')
  .action(async (flags: { home?: string }) => exit(() => {
    const location = databaseOrRefuse(process.env.DEPLOYR_DATABASE_URL, homePaths(resolveHome(flags.home)).database);
    return location.kind === 'sqlite'
      ? dbMigrate(location.file, async () => migrateSqliteFile(location.file), processIo)
      : dbMigrate(redactDatabaseUrl(location.url), () => migratePostgres(location.url), processIo);
  }));
db.command('copy').addOption(homeOption())
  .requiredOption('--from <url>', 'the SQLite store: sqlite:PATH (stop the service on it first)')
  .requiredOption('--to <url>', 'an empty PostgreSQL store: postgres://USER@HOST:PORT/DB[?schema=NAME]')
  .description('copy every table of a SQLite store into an empty PostgreSQL store in one transaction, verifying the audit chain with the home\'s audit.key')
  .action(async (flags: { home?: string; from: string; to: string }) => exit(async () => {
    const home = resolveHome(flags.home);
    const from = databaseOrRefuse(flags.from, homePaths(home).database, '--from');
    const to = databaseOrRefuse(flags.to, homePaths(home).database, '--to');
    if (from.kind !== 'sqlite') throw new DeployrError('INVALID_INPUT', '--from must be a SQLite store (sqlite:PATH).');
    if (to.kind !== 'postgres') throw new DeployrError('INVALID_INPUT', '--to must be a PostgreSQL store (postgres://…).');
    if (!existsSync(from.file)) throw new DeployrError('INVALID_INPUT', `There is no SQLite store at ${from.file}.`);
    const auditKey = homeAuditChainKey(home);
    return dbCopy(from.file, redactDatabaseUrl(to.url), () => copySqliteToPostgres(from.file, to.url, auditKey), processIo);
  }));

/** `parseDatabaseLocation`, its refusal a one-line INVALID_INPUT naming the flag. */
function databaseOrRefuse(value: string | undefined, homeDatabase: string, flag = '--database'): ReturnType<typeof parseDatabaseLocation> {
  try { return parseDatabaseLocation(value, homeDatabase); } catch (err) { throw new DeployrError('INVALID_INPUT', `${(err as Error).message.replace(/^--database/, flag)}.`); }
}

registerAdminCommands(program);
registerPasscodeCommands(program);
const media = program.command('media').description('boot media: a small Linux boot environment (kernel, initrd, iPXE script, hybrid ISO) that runs the client');
media.command('build').addOption(homeOption())
  .option('--out <dir>', 'where to write (default: the home\'s media folder, which the service publishes under /Content/Boot/)')
  .option('--server <url>', 'the server the boot environment connects to (default https://THIS-HOST:7281); several (repeat it, or separate them with commas) are tried in order', (v: string, prev: string[]) => [...prev, v], [] as string[])
  .option('--fingerprint <sha256>', 'the server certificate fingerprint to pin (default: from the service\'s certificate)')
  .option('--cert <file>', 'the service\'s certificate, to pin its fingerprint (default: the home\'s tls/server.crt or $DEPLOYR_TLS_CERT)')
  .option('--kernel <file>', 'the kernel (default: the newest /boot/vmlinuz-*)').option('--modules <dir>', 'its modules folder (/lib/modules/VERSION)')
  .option('--node <file>', 'the Node.js binary to put in the initrd (default: this one)')
  .option('--noprompt', 'an ISO without a menu: boots the environment at once')
  .option('--no-secure-boot', 'UEFI path without Debian\'s signed shim and GRUB (boots only with Secure Boot off); default: Secure Boot media')
  .option('--console <list>', 'kernel consoles, the last one runs the client (default "ttyS0,115200 tty0")')
  .option('--zstd-level <n>', 'initrd compression level 1-19 (default 10)')
  .description('build vmlinuz, initrd, boot.ipxe, deployr.iso and media.json (no secret goes on them)')
  .action(async (flags: MediaBuildFlags & { home?: string }) => exit(() => {
    const home = resolveHome(flags.home);
    return mediaBuild(home, homePaths(home).media, flags, { clientBundle: CLIENT_BUNDLE_PATH, version: VERSION }, processIo);
  }));
media.command('status').addOption(homeOption()).addOption(localPortOption()).option('--cert <file>', 'the service\'s certificate (when the service is not running)').option('--json', 'JSON output')
  .description('what is published under /Content/Boot/, whether it is intact and pins the service\'s current certificate (exit 0 when both)')
  .action(async (flags: { home?: string; localPort: string; cert?: string; json?: boolean }) => exit(async () => {
    const home = resolveHome(flags.home);
    const running = await localStatus(Number(flags.localPort));
    return mediaStatus(home, homePaths(home).media, flags, running?.tlsFingerprint ?? null, processIo);
  }));
media.command('dnsmasq').requiredOption('--subnet <address>', 'the LAN\'s network address, e.g. 192.168.1.0')
  .requiredOption('--boot-url <url>', 'the boot script, e.g. http://deployr.lan:8080/Content/Boot/boot.ipxe (serve --boot-http-port)')
  .option('--tftp-root <dir>', 'where undionly.kpxe and ipxe.efi are (default /usr/lib/ipxe, from the ipxe package; with --secure-boot the home\'s media folder)').option('--interface <name>', 'serve only on this interface')
  .option('--secure-boot', 'UEFI machines get Debian\'s signed shim → signed network GRUB (kernel and initrd by TFTP from the media folder) instead of ipxe.efi')
  .addOption(homeOption())
  .description('print a proxyDHCP + TFTP configuration for dnsmasq beside an existing DHCP server')
  .action(async (flags: { subnet: string; bootUrl: string; tftpRoot?: string; interface?: string; secureBoot?: boolean; home?: string }) => exit(async () => mediaDnsmasq(flags, processIo, homePaths(resolveHome(flags.home)).media)));

registerClientCommand(program);

/**
 * Every command that opens a home's store also takes `--database` and `--content-dir`; they set
 * `DEPLOYR_DATABASE_URL` and `DEPLOYR_CONTENT_DIR` for this process (and the workers `serve` forks),
 * which is where openHomeStore and homePaths read them. A subcommand's flag wins over its parent's.
 */
function addStoreOptions(parent: Command): void {
  for (const cmd of parent.commands) {
    if (cmd.options.some((o) => o.long === '--home')) {
      cmd.addOption(new Option('--database <url>', 'the store: sqlite:PATH, or postgres://USER@HOST:PORT/DB[?schema=NAME] shared by several nodes (default: $DEPLOYR_DATABASE_URL, else the home\'s deployr.db)'));
      cmd.addOption(new Option('--content-dir <dir>', 'the content library, e.g. a share every node mounts (default: $DEPLOYR_CONTENT_DIR, else the home\'s content folder)'));
    }
    addStoreOptions(cmd);
  }
}
addStoreOptions(program);
program.hook('preAction', (_hooked, action) => {
  const flags = { ...action.parent?.opts(), ...action.opts() } as { database?: string; contentDir?: string };
  if (flags.database !== undefined) process.env.DEPLOYR_DATABASE_URL = flags.database;
  if (flags.contentDir !== undefined) process.env.DEPLOYR_CONTENT_DIR = flags.contentDir;
});

await program.parseAsync(process.argv);
