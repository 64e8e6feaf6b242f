// What the technician sees while a task sequence runs: the steps with the current one marked, and a progress bar for transfers.

/** A step's state as shown. */
export type UiStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'continued' | 'skipped';

/** One line of the step list. */
export interface UiStep {
  key: string;
  name: string;
  /** Nesting depth (groups and nested task sequences indent). */
  depth: number;
  isGroup: boolean;
  status: UiStatus;
  /** A short note (exit code and duration, or why it was skipped). */
  note?: string;
  /** False for a step that is not counted as one of the run's steps: disabled, or in a disabled group (see domain/step-support.ts, `stepCounts`). */
  counted?: boolean;
}

/** Progress of a transfer. */
export interface UiProgress {
  file: string;
  received: number;
  total: number;
  bytesPerSecond: number;
}

/** Where the UI writes. */
export interface UiOutput {
  write(text: string): void;
  /** True for an interactive terminal: redraw in place; otherwise plain lines. */
  isTTY: boolean;
  columns?: number;
  rows?: number;
}

const TTY_MARK: Record<UiStatus, string> = { pending: '·', running: '▶', succeeded: '✔', failed: '✖', continued: '!', skipped: '–' };
const PLAIN_MARK: Record<UiStatus, string> = { pending: ' ', running: '>', succeeded: '+', failed: 'x', continued: '!', skipped: '-' };

/** `1.5 MiB`-style sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `1 h 02 min`, `3 min 05 s` or `42 s`. */
export function formatSeconds(s: number): string {
  const t = Math.max(0, Math.round(s));
  if (t >= 3600) return `${Math.floor(t / 3600)} h ${String(Math.floor((t % 3600) / 60)).padStart(2, '0')} min`;
  if (t >= 60) return `${Math.floor(t / 60)} min ${String(t % 60).padStart(2, '0')} s`;
  return `${t} s`;
}

/** One progress line: bar (when `barWidth` > 0), percentage, bytes, rate and time left. */
export function formatProgress(p: UiProgress, barWidth: number): string {
  const fraction = p.total > 0 ? Math.min(1, p.received / p.total) : 1;
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const bar = barWidth > 0 ? `[${'#'.repeat(Math.round(fraction * barWidth)).padEnd(barWidth, '.')}] ` : '';
  const left = p.received >= p.total ? 'done' : p.bytesPerSecond > 0 ? `${formatSeconds((p.total - p.received) / p.bytesPerSecond)} left` : 'time left unknown';
  return `${bar}${pct} ${formatBytes(p.received)} / ${formatBytes(p.total)}, ${formatBytes(Math.round(p.bytesPerSecond))}/s, ${left}  ${p.file}`;
}

/** The step list as lines (a window around the current step when it is longer than `maxLines`). */
export function renderSteps(steps: readonly UiStep[], maxLines: number, tty: boolean): string[] {
  const mark = tty ? TTY_MARK : PLAIN_MARK;
  const lines = steps.map((s) => `${'  '.repeat(s.depth)}${mark[s.status]} ${s.isGroup ? `[${s.name}]` : s.name}${s.note ? `  (${s.note})` : ''}`);
  if (lines.length <= maxLines) return lines;
  const current = Math.max(0, steps.findIndex((s) => s.status === 'running' && !s.isGroup));
  const start = Math.min(Math.max(0, current - Math.floor(maxLines / 2)), lines.length - maxLines);
  return lines.slice(start, start + maxLines);
}

/** Lines of the running step's output shown under the step list on a terminal. */
export const OUTPUT_LINES_SHOWN = 6;

/**
 * The run's terminal view. On a terminal it redraws the step list, the last lines of the running
 * step's output and the bar in place; otherwise it prints one line per event.
 */
export class TerminalUi {
  private steps: UiStep[] = [];
  private bar: UiProgress | null = null;
  /** The last lines of the running step's output (terminal only). */
  private tail: string[] = [];
  private drawn = 0;
  private lastPlainProgress = 0;

  constructor(private readonly out: UiOutput, private readonly title: string, private readonly now: () => number = Date.now) {}

  /** Sets the planned steps. */
  setSteps(steps: UiStep[]): void {
    this.steps = steps.map((s) => ({ ...s }));
    this.redraw();
  }

  /** Inserts steps (a nested task sequence) right after `parentKey` and its existing children. */
  insertAfter(parentKey: string, steps: UiStep[]): void {
    const at = this.steps.findIndex((s) => s.key === parentKey);
    if (at === -1) { this.steps.push(...steps); this.redraw(); return; }
    const parentDepth = this.steps[at]?.depth ?? 0;
    let end = at + 1;
    while (end < this.steps.length && (this.steps[end]?.depth ?? 0) > parentDepth) end++;
    const existing = new Set(this.steps.map((s) => s.key));
    this.steps.splice(end, 0, ...steps.filter((s) => !existing.has(s.key)));
    this.redraw();
  }

  /** A step's state changed. */
  update(key: string, status: UiStatus, note?: string): void {
    const step = this.steps.find((s) => s.key === key);
    if (!step) return;
    step.status = status;
    if (note !== undefined) step.note = note;
    if (status !== 'running') this.bar = null;
    if (!step.isGroup) this.tail = [];
    if (this.out.isTTY) { this.redraw(); return; }
    if (step.isGroup && status === 'running') { this.line(`${'  '.repeat(step.depth)}[${step.name}]`); return; }
    if (step.isGroup && status === 'succeeded') return;
    const counter = step.isGroup || step.counted === false ? '' : `[${this.counter(step)}] `;
    this.line(`${counter}${PLAIN_MARK[status]} ${step.name}${status === 'running' ? '' : `  (${status}${step.note ? `, ${step.note}` : ''})`}`);
  }

  /**
   * `n/N`: the step's number among the counted steps of its own task sequence; a step of a nested
   * task sequence (key `<outer>/<inner>`) is prefixed with its Run task sequence step's counter,
   * e.g. `3/5 › 1/2`.
   */
  private counter(step: UiStep): string {
    const scope = step.key.slice(0, step.key.lastIndexOf('/') + 1);
    const leaves = this.steps.filter((s) => !s.isGroup && s.counted !== false && s.key.startsWith(scope) && !s.key.slice(scope.length).includes('/'));
    const own = `${String(leaves.indexOf(step) + 1).padStart(String(leaves.length).length)}/${leaves.length}`;
    const parent = scope === '' ? undefined : this.steps.find((s) => s.key === scope.slice(0, -1));
    return parent ? `${this.counter(parent)} › ${own}` : own;
  }

  /** Shows a transfer's progress: a live bar on a terminal; otherwise a line at most every 2 seconds, and at the end. */
  progress(p: UiProgress): void {
    this.bar = p;
    if (this.out.isTTY) { this.redraw(); return; }
    const t = this.now();
    if (p.received >= p.total || t - this.lastPlainProgress >= 2000) {
      this.lastPlainProgress = t;
      this.line(`    ${formatProgress(p, 0)}`);
    }
  }

  /** Whole lines of the running step's output (secrets already masked): the last few show under the step list on a terminal. */
  stepOutput(lines: readonly string[]): void {
    if (!this.out.isTTY || lines.length === 0) return;
    this.tail = [...this.tail, ...lines.map((l) => l.replace(/\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]/g, ''))].slice(-OUTPUT_LINES_SHOWN);
    this.redraw();
  }

  /** A failed step's output, all of it (as kept), printed above the step list. */
  failedOutput(stepName: string, output: string, cut: boolean): void {
    const lines = output.replace(/\s+$/, '').split('\n');
    if (lines.length === 1 && lines[0] === '') return;
    this.line(`    output of "${stepName}"${cut ? ' (its end)' : ''}:`);
    for (const l of lines) this.line(`    | ${l}`);
  }

  /** A message for the technician, printed above the step list. */
  say(line: string): void {
    this.line(line);
  }

  /** Leaves the final view on the screen. */
  close(): void {
    this.bar = null;
    this.tail = [];
    if (this.out.isTTY) this.redraw();
    this.drawn = 0;
  }

  private line(text: string): void {
    if (!this.out.isTTY) { this.out.write(text + '\n'); return; }
    this.erase();
    this.out.write(text + '\n');
    this.draw();
  }

  private redraw(): void {
    if (!this.out.isTTY) return;
    this.erase();
    this.draw();
  }

  private erase(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (this.steps.length === 0) return;
    const width = Math.max(40, this.out.columns || 80);
    const maxLines = Math.max(5, (this.out.rows || 24) - 6);
    const lines = [`── ${this.title}`, ...renderSteps(this.steps, maxLines, true)];
    if (this.tail.length > 0 && this.steps.some((s) => s.status === 'running' && !s.isGroup)) lines.push(...this.tail.map((l) => `   │ ${l}`));
    if (this.bar) lines.push(`   ${formatProgress(this.bar, Math.min(30, Math.max(10, width - 70)))}`);
    const clipped = lines.map((l) => (l.length > width - 1 ? l.slice(0, width - 2) + '…' : l));
    this.out.write(clipped.join('\n') + '\n');
    this.drawn = clipped.length;
  }
}
