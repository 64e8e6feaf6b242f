// Samples a process's resident memory (VmRSS from /proc) while a soak phase runs.

import { readFileSync } from 'node:fs';

/** RSS figures in MiB. */
export interface RssFigures {
  samples: number;
  firstMiB: number;
  lastMiB: number;
  maxMiB: number;
  /** The first sample once warm (see `warm()`), and growth from it: (last - warm) / warm, in percent. */
  warmMiB: number;
  growthPercent: number;
  /** The highest sample of the first and of the second half of the run, and how much higher the second is, in percent: a leak keeps climbing, a plateau does not. */
  firstHalfMaxMiB: number;
  secondHalfMaxMiB: number;
  lateGrowthPercent: number;
}

/** The RSS of `pid` in KiB, or null when it cannot be read (not Linux, or gone). */
export function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

/** Samples `pid` every `everyMs` until `stop()`; `figures()` summarises the samples. */
export function sampleRss(pid: number, everyMs = 1000): { stop(): void; warm(): void; figures(): RssFigures; samples: number[] } {
  const samples: number[] = [];
  let warmAt = 0;
  const take = (): void => { const k = rssKiB(pid); if (k !== null) samples.push(k); };
  take();
  const timer = setInterval(take, everyMs);
  timer.unref();
  return {
    samples,
    stop: () => { clearInterval(timer); take(); },
    warm: () => { take(); warmAt = samples.length - 1; },
    figures: () => {
      const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;
      const first = samples[0] ?? 0;
      const last = samples[samples.length - 1] ?? 0;
      const warm = samples[Math.max(0, warmAt)] ?? first;
      const half = Math.ceil(samples.length / 2);
      const firstHalfMax = Math.max(0, ...samples.slice(0, half));
      const secondHalfMax = Math.max(0, ...samples.slice(half));
      const percent = (from: number, to: number): number => (from > 0 ? Math.round(((to - from) / from) * 1000) / 10 : 0);
      return {
        samples: samples.length, firstMiB: mib(first), warmMiB: mib(warm), lastMiB: mib(last), maxMiB: mib(Math.max(0, ...samples)), growthPercent: percent(warm, last),
        firstHalfMaxMiB: mib(firstHalfMax), secondHalfMaxMiB: mib(secondHalfMax), lateGrowthPercent: percent(firstHalfMax, secondHalfMax),
      };
    },
  };
}
