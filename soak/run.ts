// `npm run soak`: the reliability soak (kill -9 cycles, fuzzed requests, a guess storm) against the real service; writes artifacts/soak/summary.{json,txt} and exits non-zero with one line when an invariant breaks.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { tempHome } from '../test/helpers/deployr-process.js';
import { killEverything } from './cli.js';
import { runFuzzPhase, type FuzzPhaseResult } from './fuzz.js';
import { runStormPhase, type StormPhaseResult } from './guess-storm.js';
import { runKillPhase, type KillPhaseResult } from './kill-cycles.js';
import { parseSoakOptions, type SoakOptions } from './options.js';
import { humanSummary } from './summary.js';

/** The JSON summary the soak writes. */
export interface SoakSummary {
  ok: boolean;
  seed: number;
  quick: boolean;
  phases: string[];
  startedAt: string;
  durationMs: number;
  machine: { cpus: number; model: string; memoryGiB: number; node: string; platform: string };
  kill?: KillPhaseResult;
  fuzz?: FuzzPhaseResult;
  storm?: StormPhaseResult;
  /** Every broken invariant, one line each. */
  broken: string[];
  /** Set when a phase could not run at all. */
  error?: string;
}

async function main(): Promise<number> {
  let options: SoakOptions;
  try { options = parseSoakOptions(process.argv.slice(2)); } catch (err) {
    console.error(`soak: ${(err as Error).message}`);
    return 2;
  }
  const log = (line: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
  const startedAt = new Date();
  log(`soak: seed ${options.seed} (replay with --seed ${options.seed}${options.quick ? ' --quick' : ''}), phases ${options.phases.join(',')}`);
  const summary: SoakSummary = {
    ok: false, seed: options.seed, quick: options.quick, phases: options.phases, startedAt: startedAt.toISOString(), durationMs: 0,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
    broken: [],
  };
  const homes: { home: string; cleanup(): void }[] = [];
  const home = (): string => { const h = tempHome('deployr-soak-'); homes.push(h); return h.home; };
  try {
    for (const phase of options.phases) {
      const seed = (options.seed + PHASE_SALT[phase]) >>> 0;
      log(`${phase}: starting`);
      if (phase === 'kill') {
        summary.kill = await runKillPhase({ cycles: options.killCycles, seed, home: home(), log, selftestBreak: options.selftestBreak });
        summary.broken.push(...summary.kill.broken.map((b) => `kill: ${b}`));
      } else if (phase === 'fuzz') {
        summary.fuzz = await runFuzzPhase({ requests: options.fuzzRequests, seed, home: home(), concurrency: 16, timeoutMs: 15_000, serviceHeapMiB: options.serviceHeapMiB, log });
        summary.broken.push(...summary.fuzz.broken.map((b) => `fuzz: ${b}`));
      } else {
        summary.storm = await runStormPhase({ guesses: options.stormGuesses, seed, home: home(), concurrency: options.quick ? 50 : 20, log });
        summary.broken.push(...summary.storm.broken.map((b) => `storm: ${b}`));
      }
      log(`${phase}: done, ${summary.broken.length} broken so far`);
    }
  } catch (err) {
    summary.error = (err as Error).message.split('\n')[0] ?? 'error';
    summary.broken.push(`a phase could not run: ${summary.error}`);
  } finally {
    killEverything();
  }
  summary.durationMs = Date.now() - startedAt.getTime();
  summary.ok = summary.broken.length === 0;
  mkdirSync(options.out, { recursive: true });
  writeFileSync(join(options.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const text = humanSummary(summary);
  writeFileSync(join(options.out, 'summary.txt'), text);
  console.log(text);
  if (summary.ok) for (const h of homes) h.cleanup();
  else log(`homes kept for inspection: ${homes.map((h) => h.home).join(' ')}`);
  if (!summary.ok) {
    console.error(`soak FAILED: ${summary.broken[0]}${summary.broken.length > 1 ? ` (and ${summary.broken.length - 1} more, see ${join(options.out, 'summary.txt')})` : ''}`);
    return 1;
  }
  return 0;
}

/** Each phase gets its own seed derived from the run's, so `--only` replays a phase exactly as in the full run. */
const PHASE_SALT = { kill: 0, fuzz: 0x9e3779b9, storm: 0x7f4a7c15 } as const;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killEverything();
    console.error(`soak: interrupted (${signal}); no summary written`);
    process.exit(130);
  });
}

process.exitCode = await main();
