// The run's full log on the client: timestamped lines with the step name, secrets masked, uploaded to the server in pieces.

import { appendFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';

/** Largest piece sent in one upload, in bytes. */
const UPLOAD_CHUNK_BYTES = 64 * 1024;

/** A log line's level. */
export type LogLevel = 'INFO' | 'WARN' | 'ERROR' | 'OUT';

/** Appends lines to the run's log file; every line passes through `redact` first. */
export class RunLog {
  constructor(readonly file: string, private readonly redact: (text: string) => string, private readonly now: () => Date = () => new Date()) {}

  /** Writes one line per line of `text`: `<ISO time> <LEVEL> [<step>] <text>`. */
  write(level: LogLevel, text: string, step?: string): void {
    const at = this.now().toISOString();
    const prefix = `${at} ${level.padEnd(5)} ${step ? `[${step.replace(/[\r\n]/g, ' ')}] ` : ''}`;
    const lines = this.redact(text).replace(/\r/g, '').split('\n');
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    appendFileSync(this.file, lines.map((l) => prefix + l).join('\n') + '\n', { mode: 0o600 });
  }

  /**
   * Sends the part of the log after byte `from` with `upload`, in pieces; returns the new offset
   * (how far the server has it). A piece never splits a UTF-8 character.
   */
  async upload(from: number, upload: (text: string) => Promise<void>): Promise<number> {
    const size = await stat(this.file).then((s) => s.size, () => 0);
    if (size <= from) return from;
    const fh = await open(this.file, 'r');
    try {
      let offset = from;
      while (offset < size) {
        const buf = Buffer.alloc(Math.min(UPLOAD_CHUNK_BYTES, size - offset));
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        let end = bytesRead;
        // Do not cut a multi-byte character: back up to its first byte.
        if (offset + end < size) {
          let back = end;
          while (back > 0 && ((buf[back - 1] ?? 0) & 0xc0) === 0x80) back--;
          if (back > 0 && ((buf[back - 1] ?? 0) & 0x80) !== 0) end = back - 1;
          if (end === 0) end = bytesRead;
        }
        await upload(buf.subarray(0, end).toString('utf8'));
        offset += end;
      }
      return offset;
    } finally {
      await fh.close();
    }
  }
}
