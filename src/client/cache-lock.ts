// A lock file per cached download, so that two clients sharing one cache folder never write the same file at once.

import { hostname } from 'node:os';
import { open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';

/** A held lock; `release` removes the lock file. */
export interface CacheLock {
  release(): Promise<void>;
}

/** What a lock file says about its holder. */
interface Holder {
  pid: number;
  host: string;
}

/** The holder refreshes the lock file's time this often while it holds it. */
const REFRESH_MS = 5_000;
/** A lock file not refreshed for this long belongs to a holder that is gone (another machine, or a frozen process). */
export const STALE_AFTER_MS = 30_000;
/** How often a waiting client looks again. */
const POLL_MS = 200;

/** True when `pid` is a running process on this machine (EPERM: it runs, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads a lock file's holder and age; null when it is gone. */
async function inspect(path: string): Promise<{ holder: Holder | null; ageMs: number } | null> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let holder: Holder | null = null;
    try {
      const parsed = JSON.parse(text) as Partial<Holder>;
      if (Number.isSafeInteger(parsed.pid) && typeof parsed.host === 'string') holder = { pid: parsed.pid as number, host: parsed.host };
    } catch {
      holder = null; // half-written by a holder that died while creating it: judged by its age
    }
    return { holder, ageMs: Date.now() - info.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** True when the lock's holder is certainly gone: a dead process on this machine, or no refresh for STALE_AFTER_MS. */
function stale(lock: { holder: Holder | null; ageMs: number }): boolean {
  if (lock.ageMs > STALE_AFTER_MS) return true;
  return lock.holder !== null && lock.holder.host === hostname() && !alive(lock.holder.pid);
}

/**
 * Takes the lock file `path` (created exclusively, holding this process's pid and host name),
 * waiting while another live client holds it; a stale lock (its holder died, or stopped refreshing
 * it) is taken over. `onWait` is called once when the lock is busy. A cancelled `signal` stops the
 * wait with its reason. Two clients taking over the same stale lock at the same moment is not ruled
 * out; each file's SHA-256 is still checked before it is used.
 */
export async function lockCacheFile(path: string, options: { signal?: AbortSignal; onWait?: () => void } = {}): Promise<CacheLock> {
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const fh = await open(path, 'wx', 0o644);
      try {
        await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname() } satisfies Holder));
      } finally {
        await fh.close();
      }
      return held(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = await inspect(path);
    if (current && stale(current)) {
      // Moved aside first, so that only one of several waiters removes this very lock file.
      const aside = `${path}.stale-${process.pid}-${Date.now()}`;
      await rename(path, aside).then(() => rm(aside, { force: true }), () => undefined);
      continue;
    }
    if (current && !told) {
      told = true;
      options.onWait?.();
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { clearTimeout(timer); reject(options.signal?.reason as Error); };
      const timer = setTimeout(() => { options.signal?.removeEventListener('abort', onAbort); resolve(); }, POLL_MS);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A lock this process holds: refreshed until released. */
function held(path: string): CacheLock {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, REFRESH_MS);
  timer.unref();
  let released = false;
  return {
    async release(): Promise<void> {
      if (released) return;
      released = true;
      clearInterval(timer);
      await rm(path, { force: true });
    },
  };
}
