// Asks for input: masked prompts on a terminal, or one line at a time from standard input when there is none.

import { createInterface } from 'node:readline';
import { isCancel, password, select, confirm, text } from '@clack/prompts';

/** Reads answers; `null` means the input ended (or the person cancelled). */
export interface Prompter {
  /** True when answers come from a person at a terminal. */
  readonly interactive: boolean;
  /** A secret: masked on a terminal, never echoed. */
  secret(label: string): Promise<string | null>;
  /** A plain line. */
  line(label: string): Promise<string | null>;
  /** A choice from a list (terminal only; without one, reads the value as a line). */
  choose<T extends string>(label: string, options: { value: T; label: string; hint?: string }[]): Promise<T | null>;
  /** Yes or no. */
  confirm(label: string): Promise<boolean | null>;
  /**
   * Until `release`, keystrokes are neither echoed nor kept (a terminal in raw mode whose input is
   * read and dropped; Ctrl-C still interrupts). For the time between prompts, such as a throttle
   * wait, when a technician may type the passcode again. `release` says whether anything was typed.
   */
  quiet(): { release(): boolean };
  close(): void;
}

/** A terminal input stream (the parts `quiet` uses). */
interface TtyInput {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** A prompter on the process's standard input and output (or the given streams). */
export function createPrompter(input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin, output: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Prompter {
  const interactive = Boolean(input.isTTY && output.isTTY);
  let lines: AsyncIterator<string> | null = null;
  let rl: ReturnType<typeof createInterface> | null = null;
  const nextLine = async (): Promise<string | null> => {
    if (!lines) {
      rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
      lines = rl[Symbol.asyncIterator]();
    }
    const r = await lines.next();
    return r.done ? null : r.value.replace(/\r$/, '');
  };
  const answer = <T>(v: T | symbol): Exclude<T, symbol> | null => (isCancel(v) ? null : (v as Exclude<T, symbol>));
  return {
    interactive,
    async secret(label) {
      if (interactive) return answer(await password({ message: label, mask: '*', input, output } as Parameters<typeof password>[0]));
      return nextLine();
    },
    async line(label) {
      if (interactive) return answer(await text({ message: label, input, output } as Parameters<typeof text>[0]));
      return nextLine();
    },
    async choose(label, options) {
      if (interactive) return answer(await select({ message: label, options, input, output } as unknown as Parameters<typeof select>[0])) as never;
      const v = await nextLine();
      return v === null ? null : (options.find((o) => o.value === v.trim())?.value ?? null);
    },
    async confirm(label) {
      if (interactive) return answer(await confirm({ message: label, input, output } as Parameters<typeof confirm>[0]));
      const v = await nextLine();
      return v === null ? null : /^(y|yes)$/i.test(v.trim());
    },
    quiet() {
      const tty = input as NodeJS.ReadableStream & TtyInput;
      if (!interactive || typeof tty.setRawMode !== 'function') return { release: () => false };
      const wasRaw = tty.isRaw === true;
      let typed = false;
      let released = false;
      const release = (): boolean => {
        if (released) return typed;
        released = true;
        tty.removeListener('data', onData);
        tty.pause();
        tty.setRawMode?.(wasRaw);
        return typed;
      };
      const onData = (d: Buffer | string): void => {
        const text = typeof d === 'string' ? d : d.toString('latin1');
        // Ctrl-C: the terminal gets its mode back first, then the process its SIGINT.
        if (text.includes('\x03')) { release(); process.kill(process.pid, 'SIGINT'); return; }
        typed = true;
      };
      tty.setRawMode(true);
      tty.on('data', onData);
      tty.resume();
      return { release };
    },
    close() {
      rl?.close();
    },
  };
}
