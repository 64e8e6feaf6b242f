// A list of servers as people write it: `--server` repeated, each value (or DEPLOYRHOST) a comma-separated list.

/**
 * The entries of `values` in order: every value split at commas, each entry trimmed, empty entries
 * (a trailing comma, two commas in a row) left out. Entries are not checked here; the client and
 * `media build` each check them against their own rules.
 */
export function splitServerList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((e) => e.trim()).filter((e) => e !== '');
}
