// How commands write: lines to standard output, and one-line errors with a stable code.

/** Where a command writes. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

/** The process's own streams. */
export const processIo: CommandIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Parses durations such as `90d`, `2h`, `30m`, `45s` or `0` into seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration; use for example 30m, 2h or 90d.`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** Formats seconds as the largest whole unit (90d, 2h, 30m, 45s). */
export function formatDuration(seconds: number): string {
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= n && seconds % n === 0) return `${seconds / n}${unit}`;
  }
  return `${seconds}s`;
}
