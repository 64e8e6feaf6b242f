// Counts and durations in words for people (`1 day`, `2 hours 5 minutes`), shared by the command line and the service's messages.

/** `1 second`, `2 seconds`, `1 entry`, `3 entries`: a count with its noun in the right number (`pluralForm` defaults to `singular` + "s"). */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

/**
 * A duration in seconds for people, in words: `1 second`, `45 seconds`, `2 hours`, `90 days`,
 * `1 hour 30 minutes` (at most the two largest units; 0 is `0 seconds`).
 */
export function describeDuration(seconds: number): string {
  let rest = Math.max(0, Math.round(seconds));
  const parts: string[] = [];
  for (const [unit, n] of [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]] as const) {
    if (rest >= n || (n === 1 && parts.length === 0)) {
      parts.push(plural(Math.floor(rest / n), unit));
      rest %= n;
    }
    if (parts.length === 2 || (parts.length > 0 && rest === 0)) break;
  }
  return parts.join(' ');
}

/** An age in its largest whole unit: `45 seconds`, `3 minutes`, `5 hours`, `12 days` (for less than 2 of a unit, the next smaller one). */
export function describeAge(seconds: number): string {
  if (seconds < 120) return plural(seconds, 'second');
  if (seconds < 7200) return plural(Math.floor(seconds / 60), 'minute');
  if (seconds < 172800) return plural(Math.floor(seconds / 3600), 'hour');
  return plural(Math.floor(seconds / 86400), 'day');
}
