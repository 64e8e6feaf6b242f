// Describes where a text stops being JSON without quoting any of it (a passcode file read by mistake must not be printed).

/**
 * Where `text` stops being JSON, from the error `JSON.parse(text)` threw: "at line L, column C"
 * when the parser gave a position, "it does not start with { or [" when the first character rules
 * out a document, "" otherwise. Never any of the text itself: V8's own message quotes it.
 */
export function jsonSyntaxWhere(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const position = /at position (\d+)/.exec(message)?.[1];
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lineColumn) return `at line ${lineColumn[1]}, column ${lineColumn[2]}`;
  if (position !== undefined) {
    const before = text.slice(0, Number(position));
    const line = before.split('\n').length;
    const column = Number(position) - before.lastIndexOf('\n');
    return `at line ${line}, column ${column}`;
  }
  const first = text.trimStart()[0];
  if (first === undefined) return 'it is empty';
  if (first !== '{' && first !== '[') return 'it does not start with { or [';
  return '';
}

/** "not valid JSON", with where (see `jsonSyntaxWhere`) in brackets when known. */
export function notValidJson(text: string, err: unknown): string {
  const where = jsonSyntaxWhere(text, err);
  return where ? `not valid JSON (${where})` : 'not valid JSON';
}
