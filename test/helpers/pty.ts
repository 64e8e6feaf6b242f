// Test helper: runs a command on a pseudo-terminal through util-linux `script`, so the program sees a real terminal (echo, raw mode).

import { spawn, type ChildProcess } from 'node:child_process';

/** A program running on a pseudo-terminal. */
export interface PtyProcess {
  child: ChildProcess;
  /** Everything the terminal showed so far (the program's output and the terminal's echo). */
  output(): string;
  /** Types `text` on the terminal. */
  type(text: string): void;
  /** Resolves when `pattern` appears in the output after `from` characters; returns where it ended. */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<{ match: RegExpExecArray; end: number }>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Ends it (SIGKILL to `script` and the program) and waits. */
  kill(): Promise<void>;
}

/** Quotes one word for /bin/sh. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Starts `file args` on a 120×40 pseudo-terminal (`script -qfec CMD /dev/null`), with `env`. */
export function spawnPty(file: string, args: string[], env: NodeJS.ProcessEnv): PtyProcess {
  // A pseudo-terminal starts 0×0; give it a size, as a terminal window has.
  const command = `stty cols 120 rows 40; exec ${[file, ...args].map(shellQuote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    type: (text) => { child.stdin!.write(text); },
    async waitFor(pattern, from = 0, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      const re = new RegExp(pattern.source, pattern.flags.replace('g', ''));
      for (;;) {
        const m = re.exec(out.slice(from));
        if (m) return { match: m, end: from + m.index + m[0].length };
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(pattern)} in:\n${out.slice(from)}`);
        if (child.exitCode !== null) throw new Error(`the program ended (${child.exitCode}) before ${String(pattern)}:\n${out.slice(from)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    exited,
    async kill() {
      if (child.exitCode === null && child.pid !== undefined) { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }
      await exited;
    },
  };
}
