// `deployr throttle list|clear`: see which sources wait after failed logins, and let one (or all) try again at once.

import { describeThrottleKey, retryAfterSeconds } from '../domain/throttle.js';
import { DeployrError } from '../domain/errors.js';
import type { LoginStore } from '../engine/ports.js';
import type { CommandIo } from './output.js';
import { describeForMessage } from '../domain/input-description.js';

/** A wait in a short human form (45 s, 3 min, 2 h). */
function waitText(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** `deployr throttle list [--json]`: every failure counter, and the global count of consecutive failures. */
export async function throttleList(store: LoginStore, io: CommandIo, json: boolean, now: number = Date.now()): Promise<number> {
  const { records, global } = await store.listThrottle();
  const rows = records.map(({ key, record }) => ({
    ...describeThrottleKey(key), failures: record.failures,
    lastFailureAt: new Date(record.lastFailureAt).toISOString(), waitSeconds: retryAfterSeconds(record, now),
  }));
  if (json) {
    io.out(JSON.stringify({ counters: rows, consecutiveFailures: global.consecutiveFailures, alertSince: global.alertSince > 0 ? new Date(global.alertSince).toISOString() : null }, null, 2));
    return 0;
  }
  if (rows.length === 0) io.out('No failed logins are being counted.');
  for (const r of rows) {
    const who = r.scope === 'address' ? `${r.address} (the address as a whole)` : `${r.address} device ${r.deviceId ?? '(none sent)'}`;
    io.out(`${who}: ${r.failures} failed login${r.failures === 1 ? '' : 's'}, last at ${r.lastFailureAt}; ${r.waitSeconds > 0 ? `must wait ${waitText(r.waitSeconds)}` : 'may try now'}`);
  }
  if (global.alertSince > 0) {
    io.out(`ALERT since ${new Date(global.alertSince).toISOString()}: ${global.consecutiveFailures} consecutive failed logins; passcode checks are slowed for everyone until a login succeeds (or: deployr throttle clear --alert).`);
  } else if (global.consecutiveFailures > 0) {
    io.out(`Consecutive failed logins (all sources): ${global.consecutiveFailures}.`);
  }
  if (rows.some((r) => r.waitSeconds > 0)) io.out('Let a source try again at once with: deployr throttle clear ADDRESS');
  return 0;
}

/** `deployr throttle clear ADDRESS | --all [--alert]`: removes failure counters (audited; the running service sees it on the next attempt). */
export async function throttleClear(address: string | undefined, flags: { all?: boolean; alert?: boolean }, store: LoginStore, io: CommandIo): Promise<number> {
  const target = address?.trim();
  if (target !== undefined && flags.all) throw new DeployrError('INVALID_INPUT', 'Give either an ADDRESS or --all, not both.');
  if (target === undefined && !flags.all && !flags.alert) throw new DeployrError('INVALID_INPUT', 'Say what to clear: an ADDRESS (see deployr throttle list), --all, or --alert.');
  if (target !== undefined && (target === '' || target.length > 100 || /[\s|\0-\x1f]/.test(target))) {
    throw new DeployrError('INVALID_INPUT', `The address given (${describeForMessage(address ?? '')}) is not an address as deployr throttle list shows them.`);
  }
  const { cleared, alertCleared } = await store.clearThrottle({
    ...(target !== undefined ? { address: target } : {}), all: flags.all === true, resetAlert: flags.alert === true,
    event: {
      kind: 'throttle', method: 'clear', result: 'changed', reason: flags.all ? 'all_cleared' : target !== undefined ? 'address_cleared' : 'alert_cleared',
      subject: 'admin', source: 'local', device: null, detail: { ...(target !== undefined ? { address: target } : {}), all: flags.all === true, alert: flags.alert === true },
    },
  });
  const what = flags.all ? 'every source' : target !== undefined ? target : null;
  if (what !== null) io.out(cleared > 0 ? `Cleared ${cleared} failure counter${cleared === 1 ? '' : 's'} of ${what}: it may try again at once.` : `No failure counters of ${what} to clear.`);
  if (flags.alert) io.out(alertCleared ? 'Cleared the consecutive-failure count and the alert: passcode checks run at full speed again.' : 'There was no consecutive-failure count or alert to clear.');
  return 0;
}
