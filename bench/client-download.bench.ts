// Benchmark: the client's content download (receive + SHA-256 + fsync) against `curl -o FILE && sha256sum FILE && sync FILE` and against `curl -o FILE` alone, for one 1 GiB file and for 100 small files, like with like, in one run; and Apply image's stream against curl | dd.

import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/client/api-client.js';
import { fetchContentVersion } from '../src/client/content-download.js';
import { streamContentFile } from '../src/client/content/image-source.js';
import { writeImage } from '../src/client/content/image-writer.js';
import { runDeployr, startService, tempHome, type ServiceProcess } from '../test/helpers/deployr-process.js';
import { httpsJson } from '../test/helpers/https-json.js';

const MiB = 1024 * 1024;
/** The large file: 1 GiB, or BENCH_CONTENT_MB. */
const SIZE = Number(process.env.BENCH_CONTENT_MB ?? 1024) * MiB;
/** The small files: BENCH_SMALL_FILES (default 100) of 16 KiB to 1 MiB (1.6 KiB … 1 MiB spread evenly, about 52 MiB in all). */
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 100);
/** Rounds (the median is reported); each round runs the three contenders in a rotating order. */
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** `deployr serve --workers` for the service. */
const WORKERS = process.env.BENCH_WORKERS ?? '2';
/** Parallel transfers: the client fetches a folder four files at a time, so curl gets `--parallel-max 4` too. */
const PARALLEL = 4;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function writeRandom(file: string, size: number): void {
  const block = Buffer.allocUnsafe(Math.min(64 * MiB, Math.max(size, 1)));
  const fd = openSync(file, 'w');
  try {
    for (let written = 0; written < size; written += block.length) {
      randomFillSync(block);
      writeSync(fd, block, 0, Math.min(block.length, size - written));
    }
  } finally {
    closeSync(fd);
  }
}

/** CPU seconds (user + system) of this process's children that have ended and been waited for (Linux /proc; 0 elsewhere). */
function reapedChildrenCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system, all threads) of this process so far. */
function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `sh -c script` and resolves with its wall time in seconds; rejects on failure. */
async function timedShell(script: string, env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`${script.slice(0, 80)}… failed (${code}): ${err.trim()}`);
  return (performance.now() - started) / 1000;
}

/** Runs the benchmark and prints the table. */
export async function run(): Promise<void> {
  const { home, cleanup } = tempHome('deployr-bench-client-');
  let service: ServiceProcess | null = null;
  try {
    const sizes = Array.from({ length: SMALL_FILES }, (_, i) => Math.round(16 * 1024 + (i * (MiB - 16 * 1024)) / Math.max(SMALL_FILES - 1, 1)));
    const smallTotal = sizes.reduce((a, b) => a + b, 0);
    console.log(`Client download: ${SIZE / MiB} MiB SingleFile and ${SMALL_FILES} files (${(smallTotal / MiB).toFixed(1)} MiB), ${RUNS} round(s) (median), ${cpus().length} CPU(s): ${cpus()[0]?.model ?? '?'}, Node ${process.version}, deployr serve --workers ${WORKERS}`);
    const cli = async (args: string[]): Promise<string> => {
      const r = await runDeployr(args, { home, timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`deployr ${args.join(' ')}: ${r.stderr.trim()}`);
      return r.stdout;
    };
    await cli(['configure', 'security', '--bypass', 'on']);
    const big = join(home, 'big.bin');
    writeRandom(big, SIZE);
    const bigId = /\(([0-9a-f-]{36})\)/.exec(await cli(['content', 'create', '--name', 'Bench image', '--purpose', 'OperatingSystem', '--type', 'SingleFile']))?.[1] as string;
    await cli(['content', 'add-version', bigId, big]);
    await cli(['content', 'activate', bigId, '1']);
    rmSync(big);
    const folder = join(home, 'small');
    mkdirSync(folder);
    sizes.forEach((n, i) => writeRandom(join(folder, `file-${String(i).padStart(3, '0')}.bin`), n));
    const smallId = /\(([0-9a-f-]{36})\)/.exec(await cli(['content', 'create', '--name', 'Bench files', '--purpose', 'Other', '--type', 'Folder']))?.[1] as string;
    await cli(['content', 'add-version', smallId, folder]);
    await cli(['content', 'activate', smallId, '1']);
    rmSync(folder, { recursive: true });

    service = await startService({ home, env: { DEPLOYR_LOG_LEVEL: 'warn' }, args: ['--workers', WORKERS] });
    const caPem = readFileSync(service.caFile, 'utf8');
    const token = ((await httpsJson(`${service.url}/v1/auth/anonymous`, { body: {}, ca: caPem })).body as { token: string }).token;
    const api = await ApiClient.connect(`https://localhost:${service.port}`, { caPem });
    const base = `https://localhost:${service.port}/v1/content/`;
    const hashesOf = async (id: string): Promise<string[]> =>
      ((await httpsJson(`${service!.url}/v1/content-items/${id}/versions/active`, { token, ca: caPem })).body as { files: { sha256: string }[] }).files.map((f) => f.sha256);

    const scratch = join(home, 'scratch');
    const cases = [
      { name: `1 file of ${SIZE / MiB} MiB`, id: bigId, hashes: await hashesOf(bigId), bytes: SIZE, apply: true },
      { name: `${SMALL_FILES} files, ${(smallTotal / MiB).toFixed(1)} MiB`, id: smallId, hashes: await hashesOf(smallId), bytes: smallTotal, apply: false },
    ];
    let applyRow = '';
    const rows: string[][] = [['', 'client (receive + SHA-256 + fsync)', 'curl -o && sha256sum && sync FILE', 'curl -o alone', 'client / curl+sha256sum+sync', 'client / curl -o']];
    const env = { TOKEN: token, CA: service.caFile };
    for (const c of cases) {
      const curlArgs = (dir: string): string => c.hashes.map((h, i) => `-o "${dir}/f${i}" "${base}${h}"`).join(' ');
      const curlCmd = (dir: string): string => `curl --silent --show-error --fail --cacert "$CA" -H "Authorization: Bearer $TOKEN" ${c.hashes.length > 1 ? `--parallel --parallel-max ${PARALLEL}` : ''} ${curlArgs(dir)}`;
      const files = (dir: string): string => c.hashes.map((_, i) => `"${dir}/f${i}"`).join(' ');
      const contenders: Record<string, () => Promise<number>> = {
        client: async () => {
          const started = performance.now();
          await fetchContentVersion(api, token, c.id, { cacheDir: join(scratch, 'cache'), workDir: join(scratch, 'work') });
          return (performance.now() - started) / 1000;
        },
        pipeline: () => timedShell(`${curlCmd(scratch)} && sha256sum ${files(scratch)} > /dev/null && sync ${files(scratch)}`, env),
        curl: () => timedShell(curlCmd(scratch), env),
      };
      if (c.apply) {
        // Apply image's streaming path onto a file standing in for a disk, against curl | dd with the same 4 MiB blocks and an fsync at the end.
        const file = { path: 'big.bin', size: c.bytes, sha256: c.hashes[0] as string };
        contenders.apply = async () => {
          const started = performance.now();
          const fh = await open(join(scratch, 'disk.img'), 'w');
          try {
            const source = streamContentFile(api, (fn) => fn(token), file, { signal: new AbortController().signal, onRetry: () => undefined });
            const result = await writeImage(source, fh, { compression: 'none' });
            if (result.sha256 !== file.sha256) throw new Error('the streamed image does not match its hash');
          } finally {
            await fh.close();
          }
          return (performance.now() - started) / 1000;
        };
        contenders.curlDd = () => timedShell(`curl --silent --show-error --fail --cacert "$CA" -H "Authorization: Bearer $TOKEN" "${base}${file.sha256}" | dd of="${scratch}/disk.img" bs=4M iflag=fullblock conv=fsync status=none`, env);
      }
      const names = Object.keys(contenders);
      const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      // CPU seconds per GiB of the contender itself (this process's threads, or the shell's processes), not the service's.
      const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      // A warm-up of each (the service's page cache, TLS session code paths), not counted.
      for (let round = -1; round < RUNS; round++) {
        for (let k = 0; k < names.length; k++) {
          const name = names[(k + Math.max(round, 0)) % names.length] as string;
          rmSync(scratch, { recursive: true, force: true });
          mkdirSync(scratch, { recursive: true });
          const cpuBefore = ownCpuSeconds() + reapedChildrenCpuSeconds();
          const seconds = await (contenders[name] as () => Promise<number>)();
          const cpuUsed = ownCpuSeconds() + reapedChildrenCpuSeconds() - cpuBefore;
          if (round >= 0) { times[name]?.push(seconds); cpu[name]?.push(cpuUsed / (c.bytes / (1024 * MiB))); }
        }
      }
      rmSync(scratch, { recursive: true, force: true });
      const rate = (name: string): number => c.bytes / median(times[name] as number[]);
      const fmt = (name: string): string => `${(rate(name) / MiB).toFixed(0)} MiB/s (${median(times[name] as number[]).toFixed(2)} s; ${(times[name] as number[]).map((t) => t.toFixed(2)).join(' ')}; CPU ${median(cpu[name] as number[]).toFixed(2)} s/GiB)`;
      rows.push([c.name, fmt('client'), fmt('pipeline'), fmt('curl'), `${(rate('client') / rate('pipeline')).toFixed(2)}×`, `${(rate('client') / rate('curl')).toFixed(2)}×`]);
      if (c.apply) applyRow = `Apply image streamed to a file (receive + SHA-256 + 4 MiB writes + fsync): ${fmt('apply')}; curl | dd bs=4M conv=fsync: ${fmt('curlDd')}; ratio ${(rate('apply') / rate('curlDd')).toFixed(2)}×`;
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    for (const [i, r] of rows.entries()) {
      console.log(r.map((cell, j) => cell.padEnd(widths[j]!)).join(' | '));
      if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
    }
    if (applyRow) console.log(applyRow);
  } finally {
    await service?.stop();
    cleanup();
  }
}
