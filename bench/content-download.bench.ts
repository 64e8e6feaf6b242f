// Benchmark: HTTPS download of a 1 GiB content item from `deployr serve` against nginx serving the same file with the same certificate, and the client's download + verify + write against curl.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/client/api-client.js';
import { fetchContentVersion } from '../src/client/content-download.js';
import { runDeployr, startService, tempHome, type ServiceProcess } from '../test/helpers/deployr-process.js';
import { httpsJson } from '../test/helpers/https-json.js';

const MiB = 1024 * 1024;
/** The file size: 1 GiB, or BENCH_CONTENT_MB for a quick look. */
const SIZE = Number(process.env.BENCH_CONTENT_MB ?? 1024) * MiB;
/** Repetitions of each measurement (the median is reported). */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = [1, 16];
/** `deployr serve --workers` for the measured service: BENCH_WORKERS, default 2 (1 = one process). */
const WORKERS = process.env.BENCH_WORKERS ?? '2';
/** BENCH_ONLY=serve or BENCH_ONLY=client runs only that half (the servers against nginx, or the client against curl). */
const ONLY = process.env.BENCH_ONLY ?? '';

interface Timing { seconds: number; bytes: number }
const rate = (t: Timing): number => t.bytes / t.seconds;
const mbps = (bytesPerSecond: number): string => `${(bytesPerSecond / MiB).toFixed(0)} MiB/s`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, all threads) used so far by process `root` and every process below it (Linux /proc; 0 elsewhere). */
function treeCpuSeconds(root: number | undefined): number {
  if (root === undefined || !existsSync('/proc/self/stat')) return 0;
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15).
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* the process ended meanwhile */ }
  }
  let ticks = 0;
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    ticks += procs.get(pid)?.ticks ?? 0;
    for (const [child, p] of procs) if (p.ppid === pid) pending.push(child);
  }
  return ticks / TICKS_PER_SECOND;
}

/** CPU seconds (user + system) of this process's children that have ended and been waited for (Linux /proc; 0 elsewhere). */
function reapedChildrenCpuSeconds(): number {
  if (!existsSync('/proc/self/stat')) return 0;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
}

/** CPU seconds (user + system, all threads) this process has used so far. */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `curl` (the same flags for both servers) and resolves when it has finished; rejects on failure. */
async function curl(url: string, out: string, ca: string, token: string): Promise<void> {
  const child = spawn('curl', ['--silent', '--show-error', '--fail', '--cacert', ca, '-H', `Authorization: Bearer ${token}`, '-o', out, url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await waitExit(child);
  if (code !== 0) throw new Error(`curl ${url} failed (${code}): ${err.trim()}`);
}

/** `n` simultaneous downloads to /dev/null: wall time for all of them, and the CPU the server (process tree `serverPid`) used meanwhile. */
async function concurrent(url: string, n: number, ca: string, token: string, serverPid?: number): Promise<Timing & { serverCpuSeconds: number }> {
  const cpuBefore = treeCpuSeconds(serverPid);
  const started = performance.now();
  await Promise.all(Array.from({ length: n }, () => curl(url, '/dev/null', ca, token)));
  return { seconds: (performance.now() - started) / 1000, bytes: n * SIZE, serverCpuSeconds: treeCpuSeconds(serverPid) - cpuBefore };
}

/** Server CPU seconds per GiB sent. */
const cpuPerGiB = (t: Timing & { serverCpuSeconds: number }): number => t.serverCpuSeconds / (t.bytes / (1024 * MiB));

/** Writes SIZE bytes of random data (once). */
function makeFile(file: string): void {
  const block = Buffer.allocUnsafe(64 * MiB);
  const fd = openSync(file, 'w');
  try {
    for (let written = 0; written < SIZE; written += block.length) {
      randomFillSync(block);
      writeSync(fd, block, 0, Math.min(block.length, SIZE - written));
    }
  } finally {
    closeSync(fd);
  }
}

/** Finds nginx, installing Debian's package when it is missing (root only). Returns its path or a reason. */
function findNginx(): { bin: string } | { skip: string } {
  for (const bin of ['/usr/sbin/nginx', '/usr/local/sbin/nginx']) if (existsSync(bin)) return { bin };
  if (process.getuid?.() !== 0) return { skip: 'nginx is not installed and installing it needs root (apt-get install -y nginx)' };
  console.log('Installing nginx (apt-get install -y nginx)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, encoding: 'utf8' });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], { env, encoding: 'utf8' });
  }
  if (r.status !== 0 || !existsSync('/usr/sbin/nginx')) return { skip: `apt-get install -y nginx failed: ${(r.stderr || r.stdout || '').trim().split('\n').pop() ?? ''}` };
  return { bin: '/usr/sbin/nginx' };
}

/** Starts nginx in the foreground on a loopback port with the service's certificate and TLS 1.3, serving the blob folder (Debian's defaults otherwise: sendfile, no kTLS). */
async function startNginx(bin: string, dir: string, blobDir: string, cert: string, key: string, workers: 'auto' | number): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, [
    // The home is owner-only, so the workers run as the same user as this benchmark.
    process.getuid?.() === 0 ? 'user root;' : '',
    `worker_processes ${workers};`,
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')};`,
    'daemon off;',
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    `  client_body_temp_path ${join(dir, 'body')}; proxy_temp_path ${join(dir, 'proxy')}; fastcgi_temp_path ${join(dir, 'fastcgi')};`,
    `  uwsgi_temp_path ${join(dir, 'uwsgi')}; scgi_temp_path ${join(dir, 'scgi')};`,
    '  server {',
    `    listen 127.0.0.1:${port} ssl;`,
    // The service speaks TLS 1.3; Debian's nginx 1.22 would offer only up to TLS 1.2 without this.
    '    ssl_protocols TLSv1.2 TLSv1.3;',
    `    ssl_certificate ${cert};`,
    `    ssl_certificate_key ${key};`,
    `    location /v1/content/ { alias ${blobDir}/; default_type application/octet-stream; }`,
    '  }',
    '}',
  ].join('\n'));
  const child = spawn(bin, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(true)); // the port is taken: nginx listens
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${err.trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, child,
    stop: async () => { if (child.exitCode === null) child.kill('SIGQUIT'); await waitExit(child); },
  };
}

/** Runs the benchmark and prints the table. */
export async function run(): Promise<void> {
  const { home, cleanup } = tempHome('deployr-bench-content-');
  let service: ServiceProcess | null = null;
  let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
  let nginx1: Awaited<ReturnType<typeof startNginx>> | null = null;
  try {
    console.log(`Content download: ${SIZE / MiB} MiB SingleFile item, ${RUNS} run(s) each (median), ${cpus().length} CPU(s): ${cpus()[0]?.model ?? '?'}, Node ${process.version}, deployr serve --workers ${WORKERS} (BENCH_WORKERS)`);
    const source = join(home, 'source.bin');
    makeFile(source);
    const cli = async (args: string[]): Promise<string> => {
      const r = await runDeployr(args, { home, timeoutMs: 300_000 });
      if (r.code !== 0) throw new Error(`deployr ${args.join(' ')}: ${r.stderr.trim()}`);
      return r.stdout;
    };
    await cli(['configure', 'security', '--bypass', 'on']);
    const id = /\(([0-9a-f-]{36})\)/.exec(await cli(['content', 'create', '--name', 'Bench image', '--purpose', 'OperatingSystem', '--type', 'SingleFile']))?.[1] as string;
    const addStarted = performance.now();
    await cli(['content', 'add-version', id, source]);
    const addSeconds = (performance.now() - addStarted) / 1000;
    await cli(['content', 'activate', id, '1']);
    rmSync(source);

    service = await startService({ home, env: { DEPLOYR_LOG_LEVEL: 'warn' }, args: ['--workers', WORKERS] });
    const ca = service.caFile;
    const caPem = readFileSync(ca, 'utf8');
    const login = await httpsJson(`${service.url}/v1/auth/anonymous`, { body: {}, ca: caPem });
    const token = (login.body as { token: string }).token;
    const meta = await httpsJson(`${service.url}/v1/content-items/${id}/versions/active`, { token, ca: caPem });
    const sha = (meta.body as { files: { sha256: string }[] }).files[0]?.sha256 as string;
    const deployrUrl = `https://localhost:${service.port}/v1/content/${sha}`;

    const found: ReturnType<typeof findNginx> = ONLY === 'client' ? { skip: 'BENCH_ONLY=client' } : findNginx();
    let nginxUrl: string | null = null;
    let nginx1Url: string | null = null;
    if ('bin' in found) {
      try {
        const blobDir = join(home, 'content', 'blobs', sha.slice(0, 2));
        const cert = join(home, 'tls', 'server.crt');
        const key = join(home, 'tls', 'server.key');
        nginx = await startNginx(found.bin, join(home, 'nginx'), blobDir, cert, key, 'auto');
        nginxUrl = `https://localhost:${nginx.port}/v1/content/${sha}`;
        // The same with one worker process: deployr serves from one process, so this is the per-core comparison.
        nginx1 = await startNginx(found.bin, join(home, 'nginx1'), blobDir, cert, key, 1);
        nginx1Url = `https://localhost:${nginx1.port}/v1/content/${sha}`;
      } catch (err) {
        console.log(`Skipping the nginx comparisons: ${(err as Error).message}`);
      }
    } else {
      console.log(`Skipping the nginx comparisons: ${found.skip}`);
    }

    // Warm the page cache and both servers.
    await concurrent(deployrUrl, 1, ca, token);
    if (nginxUrl) await concurrent(nginxUrl, 1, ca, token);

    const rows: string[][] = [['measurement', 'deployr', 'reference', 'ratio', 'target']];
    const results: Record<string, number> = {};
    for (const n of ONLY === 'client' ? [] : CONCURRENCY) {
      const ours: number[] = [];
      const theirs: number[] = [];
      const theirs1: number[] = [];
      const ourCpu: number[] = [];
      const theirCpu: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const o = await concurrent(deployrUrl, n, ca, token, service.child.pid);
        ours.push(rate(o));
        ourCpu.push(cpuPerGiB(o));
        if (nginxUrl) {
          const t = await concurrent(nginxUrl, n, ca, token, nginx?.child.pid);
          theirs.push(rate(t));
          theirCpu.push(cpuPerGiB(t));
        }
        if (nginx1Url && n > 1) theirs1.push(rate(await concurrent(nginx1Url, n, ca, token)));
      }
      const a = median(ours);
      const b = nginxUrl ? median(theirs) : NaN;
      results[`serve${n}`] = a / b;
      rows.push([`HTTPS download, ${n} client${n === 1 ? '' : 's'} (curl to /dev/null), total`, mbps(a), nginxUrl ? `${mbps(b)} nginx` : 'nginx skipped', nginxUrl ? `${(a / b).toFixed(2)}×` : '-', '≥ 1.00× nginx']);
      // CPU per byte moves less than throughput on a shared machine; below 1.00× the service is the cheaper one.
      if (nginxUrl) {
        const ourCpuMedian = median(ourCpu);
        const theirCpuMedian = median(theirCpu);
        rows.push(['  (server CPU per GiB sent; on loopback, part of it lands on curl)', `${ourCpuMedian.toFixed(2)} s`, `${theirCpuMedian.toFixed(2)} s nginx`, `${(ourCpuMedian / theirCpuMedian).toFixed(2)}×`, '']);
      }
      if (theirs1.length) {
        const b1 = median(theirs1);
        rows.push(['  (for reference: nginx with worker_processes 1)', '', `${mbps(b1)} nginx×1`, `${(a / b1).toFixed(2)}×`, '']);
      }
    }

    const api = await ApiClient.connect(`https://localhost:${service.port}`, { caPem });
    const scratch = join(home, 'client');
    const clientRates: number[] = [];
    const curlRates: number[] = [];
    const curlSyncRates: number[] = [];
    // CPU seconds per GiB: the client's (this process, all threads) or curl's, and the service's meanwhile.
    const cpu = { client: [] as number[], curl: [] as number[], serverForClient: [] as number[], serverForCurl: [] as number[] };
    const GiB = 1024 * MiB;
    for (let i = 0; i < (ONLY === 'serve' ? 0 : RUNS); i++) {
      rmSync(scratch, { recursive: true, force: true });
      mkdirSync(scratch, { recursive: true });
      let serverBefore = treeCpuSeconds(service.child.pid);
      const clientBefore = ownCpuSeconds();
      let started = performance.now();
      await fetchContentVersion(api, token, id, { cacheDir: join(scratch, 'cache'), workDir: join(scratch, 'work') });
      clientRates.push(SIZE / ((performance.now() - started) / 1000));
      cpu.client.push((ownCpuSeconds() - clientBefore) / (SIZE / GiB));
      cpu.serverForClient.push((treeCpuSeconds(service.child.pid) - serverBefore) / (SIZE / GiB));
      rmSync(scratch, { recursive: true, force: true });
      mkdirSync(scratch, { recursive: true });
      const out = join(scratch, 'curl.bin');
      serverBefore = treeCpuSeconds(service.child.pid);
      const curlBefore = reapedChildrenCpuSeconds();
      started = performance.now();
      await curl(deployrUrl, out, ca, token);
      curlRates.push(SIZE / ((performance.now() - started) / 1000));
      cpu.curl.push((reapedChildrenCpuSeconds() - curlBefore) / (SIZE / GiB));
      cpu.serverForCurl.push((treeCpuSeconds(service.child.pid) - serverBefore) / (SIZE / GiB));
      rmSync(out);
      started = performance.now();
      await curl(deployrUrl, out, ca, token);
      spawnSync('sync', [out]);
      curlSyncRates.push(SIZE / ((performance.now() - started) / 1000));
    }
    rmSync(scratch, { recursive: true, force: true });
    if (ONLY !== 'serve') {
      const c = median(clientRates);
      const k = median(curlRates);
      const ks = median(curlSyncRates);
      results.client = c / k;
      rows.push(['client download + verify + fsync + write (fetchContentVersion)', mbps(c), `${mbps(k)} curl -o`, `${(c / k).toFixed(2)}×`, '≥ 0.90× curl']);
      rows.push(['  (client CPU per GiB, all threads; curl\'s)', `${median(cpu.client).toFixed(2)} s`, `${median(cpu.curl).toFixed(2)} s curl`, `${(median(cpu.client) / median(cpu.curl)).toFixed(2)}×`, '']);
      rows.push(['  (the service\'s CPU per GiB meanwhile)', `${median(cpu.serverForClient).toFixed(2)} s`, `${median(cpu.serverForCurl).toFixed(2)} s`, '', '']);
      rows.push(['  (for reference: curl -o, then sync FILE)', '', mbps(ks), `${(c / ks).toFixed(2)}×`, '']);
    }
    rows.push([`add-version (hash + copy into the library, CLI)`, mbps(SIZE / addSeconds), '', '', '']);

    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    for (const [i, r] of rows.entries()) {
      console.log(r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join('  '));
      if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    }
    const verdict = (name: string, value: number | undefined, target: number): string =>
      value === undefined || Number.isNaN(value) ? `${name}: not measured` : `${name}: ${value.toFixed(3)}× (${value >= target ? 'meets' : 'misses'} the ${target.toFixed(2)}× target)`;
    console.log([verdict('1 client vs nginx', results.serve1, 1), verdict('16 clients vs nginx', results.serve16, 1), verdict('client vs curl', results.client, 0.9)].join('; '));
  } finally {
    await nginx?.stop();
    await nginx1?.stop();
    await service?.stop();
    cleanup();
  }
}
