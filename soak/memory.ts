// Samples a process's resident memory (VmRSS from /proc) while a soak phase runs.

import { readFileSync } from 'node:fs';

/** RSS figures in MiB. */
export interface RssFigures {
  samples: number;
  firstMiB: number;
  lastMiB: number;
  maxMiB: number;
  /** (last - first) / first, in percent. */
  growthPercent: number;
}

/** The RSS of `pid` in KiB, or null when it cannot be read (not Linux, or gone). */
export function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

/** Samples `pid` every `everyMs` until `stop()`; `figures()` summarises the samples. */
export function sampleRss(pid: number, everyMs = 1000): { stop(): void; figures(): RssFigures; samples: number[] } {
  const samples: number[] = [];
  const take = (): void => { const k = rssKiB(pid); if (k !== null) samples.push(k); };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    samples,
    stop: () => { clearInterval(timer); take(); },
    figures: () => {
      const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;
      const first = samples[0] ?? 0;
      const last = samples[samples.length - 1] ?? 0;
      return { samples: samples.length, firstMiB: mib(first), lastMiB: mib(last), maxMiB: mib(Math.max(0, ...samples)), growthPercent: first > 0 ? Math.round(((last - first) / first) * 1000) / 10 : 0 };
    },
  };
}
