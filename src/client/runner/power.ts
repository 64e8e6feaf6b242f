// Power actions at the end of a run (FinishAction) or for a Reboot step: only when the client was started with permission.

import { spawn } from 'node:child_process';

/** What the machine may be asked to do. */
export type PowerAction = 'restart' | 'shutdown';

/** Carries out a power action (tests replace it). */
export type PowerActuator = (action: PowerAction) => Promise<void>;

/** The system command for a power action on this platform. */
export function powerCommand(action: PowerAction, platform: NodeJS.Platform = process.platform): [string, string[]] {
  if (platform === 'win32') return ['shutdown', action === 'restart' ? ['/r', '/t', '0'] : ['/s', '/t', '0']];
  if (platform === 'darwin') return ['shutdown', [action === 'restart' ? '-r' : '-h', 'now']];
  return ['systemctl', [action === 'restart' ? 'reboot' : 'poweroff']];
}

/** Runs the system's restart or shutdown command; rejects with a one-line reason when it fails. */
export const systemPower: PowerActuator = (action) => new Promise((resolve, reject) => {
  const [command, args] = powerCommand(action);
  const child = spawn(command, args, { stdio: 'ignore' });
  child.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot run ${command}: ${err.code ?? err.message}`)));
  child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with code ${code}`))));
});

/** The power action a `FinishAction` value asks for: null for Nothing/empty; 'other' for Reseal and Log Off (not supported here). */
export function finishActionOf(value: string | undefined): PowerAction | 'other' | null {
  const v = (value ?? '').trim().toLowerCase().replace(/\s+/g, '');
  if (v === '' || v === 'nothing' || v === 'none') return null;
  if (v === 'restart' || v === 'reboot') return 'restart';
  if (v === 'shutdown') return 'shutdown';
  return 'other';
}
