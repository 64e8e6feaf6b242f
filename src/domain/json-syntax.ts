// Describes where a text stops being JSON without quoting any of it (a passcode file read by mistake must not be printed).

/**
 * Where `text` stops being JSON, given the error `JSON.parse(text)` threw: "it is empty", "it does
 * not start with { or [", "it ends too early" or "at line L, column C". Never any of the text
 * itself: V8's own message quotes it.
 */
export function jsonSyntaxWhere(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const first = text.trimStart()[0];
  if (first === undefined) return 'it is empty';
  if (first !== '{' && first !== '[') return 'it does not start with { or [';
  const given = /at position (\d+)/.exec(message)?.[1];
  const position = given !== undefined && Number(given) < text.length ? Number(given) : faultPosition(text);
  if (position >= text.length) return 'it ends too early';
  const before = text.slice(0, position);
  return `at line ${before.split('\n').length}, column ${position - before.lastIndexOf('\n')}`;
}

/** True when `prefix` could still begin a JSON document (it parses, or fails only for ending early). */
function viablePrefix(prefix: string): boolean {
  try { JSON.parse(prefix); return true; } catch (err) {
    const message = err instanceof Error ? err.message : '';
    // Cut short: "Unexpected end of JSON input", or a fault placed at the very end of the prefix.
    const at = /at position (\d+)/.exec(message)?.[1];
    return /end of (JSON|data)/i.test(message) || (at !== undefined && Number(at) >= prefix.length);
  }
}

/**
 * The offset of the first character that makes `text` invalid, found by bisecting on prefixes
 * (V8 names no position for an unexpected token), or the end when the text only ends too early.
 */
function faultPosition(text: string): number {
  if (viablePrefix(text)) return text.length;
  let good = 0;
  let bad = text.length;
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2);
    if (viablePrefix(text.slice(0, mid))) good = mid; else bad = mid;
  }
  return bad - 1;
}

/** "not valid JSON", with where (see `jsonSyntaxWhere`) in brackets when known. */
export function notValidJson(text: string, err: unknown): string {
  const where = jsonSyntaxWhere(text, err);
  return where ? `not valid JSON (${where})` : 'not valid JSON';
}
