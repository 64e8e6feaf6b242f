// The soak's command line: --quick, --seed N, --only kill,fuzz,storm, --out DIR, --cycles/--requests/--guesses N, --service-heap MIB (and the hidden --selftest-break).

/** The phases, in the order they run. */
export const PHASES = ['kill', 'fuzz', 'storm'] as const;
/** One phase. */
export type Phase = (typeof PHASES)[number];

/** Parsed options. */
export interface SoakOptions {
  quick: boolean;
  seed: number;
  phases: Phase[];
  out: string;
  /** Hidden: make the kill phase forget a row, to show that a broken invariant fails the soak. */
  selftestBreak: boolean;
  /** Counts for this run. */
  killCycles: number;
  fuzzRequests: number;
  stormGuesses: number;
  /** The fuzz phase's service runs with V8's old space capped at this many MiB (`--max-old-space-size`), or uncapped when null: a leak then ends the service instead of growing it. */
  serviceHeapMiB: number | null;
}

/** A whole number of at least 1 (for --cycles, --requests, --guesses). */
function count(flag: string, v: string): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new Error(`${flag} takes a whole number of at least 1`);
  return Number(v);
}

/** Parses argv (without node and the script); throws an Error with a one-line message on a bad option. */
export function parseSoakOptions(argv: string[], randomSeed: () => number = () => Math.floor(Math.random() * 2 ** 31)): SoakOptions {
  let quick = false;
  let seed: number | null = null;
  let phases: Phase[] = [...PHASES];
  let out = 'artifacts/soak';
  let selftestBreak = false;
  let serviceHeapMiB: number | null = null;
  const counts: { cycles?: number; requests?: number; guesses?: number } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a === '--selftest-break') selftestBreak = true;
    else if (a === '--seed') {
      const v = value();
      if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) throw new Error('--seed takes a whole number from 0 to 4294967295');
      seed = Number(v);
    } else if (a === '--only') {
      const list = value().split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = list.filter((p) => !(PHASES as readonly string[]).includes(p));
      if (list.length === 0 || unknown.length > 0) throw new Error(`--only takes a list of ${PHASES.join(', ')}`);
      phases = PHASES.filter((p) => list.includes(p));
    } else if (a === '--out') out = value();
    else if (a === '--cycles') counts.cycles = count(a, value());
    else if (a === '--requests') counts.requests = count(a, value());
    else if (a === '--guesses') counts.guesses = count(a, value());
    else if (a === '--service-heap') {
      const v = value();
      if (!/^\d{1,6}$/.test(v) || Number(v) < 16) throw new Error('--service-heap takes a whole number of MiB of at least 16');
      serviceHeapMiB = Number(v);
    }
    else throw new Error(`unknown option (${a.length} characters); options: --quick, --seed N, --only kill,fuzz,storm, --out DIR, --cycles N, --requests N, --guesses N, --service-heap MIB`);
  }
  return {
    quick, seed: seed ?? randomSeed(), phases, out, selftestBreak, serviceHeapMiB,
    killCycles: counts.cycles ?? (quick ? 5 : 200),
    fuzzRequests: counts.requests ?? (quick ? 2000 : 100_000),
    stormGuesses: counts.guesses ?? (quick ? 500 : 10_000),
  };
}
