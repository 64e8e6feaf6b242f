// Quoting for the wrapper scripts that hand arguments to a script without putting them on any process's command line.

/** A POSIX shell single-quoted word (`'` becomes `'\''`). */
export function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A PowerShell single-quoted string literal (PowerShell also takes the typographic single quotes as quotes, so each is doubled). */
export function psQuote(text: string): string {
  return `'${text.replace(/['\u2018\u2019\u201A\u201B]/g, (q) => q + q)}'`;
}

/**
 * A PowerShell script that calls the script `file` with `args`. Its exit code is the script's
 * `exit N`, else `$LASTEXITCODE` as the script left it (0 when it ran no program).
 */
export function psCallScript(file: string, args: readonly string[]): string {
  return ['$global:LASTEXITCODE = 0', `& ${[file, ...args].map(psQuote).join(' ')}`, 'exit $LASTEXITCODE', ''].join('\n');
}

/** A POSIX shell script that runs the script `file` (sourced, so `$1`… are `args`) in the same shell. */
export function shCallScript(file: string, args: readonly string[]): string {
  return [args.length > 0 ? `set -- ${args.map(shQuote).join(' ')}` : 'set --', `. ${shQuote(file)}`, ''].join('\n');
}
