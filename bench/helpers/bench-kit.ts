// Shared by the benchmarks: helper processes, CPU time from /proc, percentiles and medians.

import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Helper processes started by `startHelper` and not yet exited (killed by `killHelpers`). */
const live = new Set<ChildProcess>();

/** Starts bench/helpers/FILE (compiled) with `args` and waits for its first message. */
export function startHelper<T>(file: string, args: string[]): Promise<{ child: ChildProcess; first: T }> {
  const child = fork(fileURLToPath(new URL(`./${file}`, import.meta.url)), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, first: m as T }));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

/** Kills (SIGKILL) every helper process `startHelper` started that is still running. */
export function killHelpers(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The next message from a helper process. */
export function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`helper exited with ${code} before answering`));
    child.once('exit', onExit);
    child.once('message', (m) => { child.off('exit', onExit); resolve(m as T); });
  });
}

/** CPU time (user + system, ms) a process and its children have used so far, from /proc (Linux). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const own = (Number(fields[11]) + Number(fields[12])) * 10;
  // With --workers the requests are served by the service's child processes: count theirs too.
  let children: number[] = [];
  try { children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { /* no such file: no children counted */ }
  return own + children.reduce((n, child) => { try { return n + cpuMs(child); } catch { return n; } }, 0);
}

/**
 * CPU time (ms) used so far by every process of this machine named `comm` (for example `postgres`),
 * counting their reaped children too (so a PostgreSQL backend that ended still counts, in the postmaster's).
 */
export function cpuMsByName(comm: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== comm) continue;
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10;
    } catch { /* the process ended meanwhile */ }
  }
  return total;
}

/** The machine's CPU counters (all cores, in clock ticks): busy and total. */
export function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
}

/** The p-th percentile of an ascending list (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** The median of a list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return ((s[Math.floor((s.length - 1) / 2)] as number) + (s[Math.ceil((s.length - 1) / 2)] as number)) / 2;
}
