// Readable log lines for a terminal (in the spirit of pino-pretty, without the dependency): `12:01:02 INFO  message  key=value …`.

import type { Writable } from 'node:stream';
import type { LogFormat } from '../config/service-config.js';

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, shown in their own place or not at all. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/** One value as `key=value` parts, nested objects flattened with dots (`req.method=GET`). */
function fields(prefix: string, value: unknown, out: string[]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) fields(prefix ? `${prefix}.${k}` : k, v, out);
    return;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  out.push(`${prefix}=${/[\s"]/.test(text ?? '') ? JSON.stringify(text) : text}`);
}

/** Formats one pino JSON line; a line that is not JSON is returned as it is. */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try { entry = JSON.parse(line) as Record<string, unknown>; } catch { return line; }
  if (entry === null || typeof entry !== 'object') return line;
  const time = typeof entry['time'] === 'number' ? new Date(entry['time']).toTimeString().slice(0, 8) : '';
  const level = LEVELS[entry['level'] as number] ?? String(entry['level'] ?? '');
  const rest: string[] = [];
  for (const [k, v] of Object.entries(entry)) if (!HIDDEN.has(k)) fields(k, v, rest);
  return `${time} ${level} ${String(entry['msg'] ?? '')}${rest.length ? `  ${rest.join(' ')}` : ''}`;
}

/** A destination for pino that writes readable lines to `out`. */
export function prettyDestination(out: Pick<Writable, 'write'>): { write(chunk: string): boolean } {
  let pending = '';
  return {
    write(chunk: string): boolean {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (lines.length) out.write(lines.map(formatLogLine).join('\n') + '\n');
      return true;
    },
  };
}

/** Whether `format` means readable lines on `out` (auto: when it is a terminal). */
export function isPretty(format: LogFormat, out: { isTTY?: boolean }): boolean {
  return format === 'pretty' || (format === 'auto' && out.isTTY === true);
}
