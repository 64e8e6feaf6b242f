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
  close(): void;
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
    close() {
      rl?.close();
    },
  };
}
