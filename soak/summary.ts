// The soak's human summary: the figures of each phase and the verdict, as plain text.

import type { SoakSummary } from './run.js';

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The text written to summary.txt and printed at the end. */
export function humanSummary(r: SoakSummary): string {
  const lines: string[] = [];
  lines.push(`deployr soak ${r.ok ? 'PASSED' : 'FAILED'}: seed ${r.seed}${r.quick ? ' (quick)' : ''}, phases ${r.phases.join(',')}, ${r.startedAt}, ${s(r.durationMs)}`);
  lines.push(`machine: ${r.machine.cpus} × ${r.machine.model}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node} on ${r.machine.platform}`);
  if (r.kill) {
    const k = r.kill;
    lines.push(`kill: ${k.cycles} kill -9 cycles in ${s(k.durationMs)}; acknowledged ${Object.entries(k.acknowledged).map(([w, n]) => `${n} ${w}`).join(', ') || 'nothing'}`);
    lines.push(`      retried finishes answered 409: ${k.finishConflicts}; unacknowledged passcode changes found applied: ${k.unacknowledgedChangesApplied}; answers ≥500: ${k.serverErrors}`);
    if (Object.keys(k.refusedCommands).length > 0) lines.push(`      commands refused: ${Object.entries(k.refusedCommands).map(([w, n]) => `${n} × ${w}`).join('; ')}`);
  }
  if (r.fuzz) {
    const f = r.fuzz;
    lines.push(`fuzz: ${f.requests} requests over ${f.routes} routes (${f.adminRoutes} admin) in ${s(f.durationMs)}; ≥500: ${f.serverErrors}; hangs: ${f.hangs}; closed unanswered: ${f.unanswered}`);
    lines.push(`      statuses ${JSON.stringify(f.byStatus)}`);
    lines.push(`      service RSS: first ${f.rss.firstMiB} MiB, after the first tenth ${f.rss.warmMiB} MiB, last ${f.rss.lastMiB} MiB, max ${f.rss.maxMiB} MiB (${f.rss.growthPercent}% growth after the first tenth; peaks ${f.rss.firstHalfMaxMiB} MiB in the first half, ${f.rss.secondHalfMaxMiB} MiB in the second: ${f.rss.lateGrowthPercent}%; ${f.rss.samples} samples)${f.serviceHeapMiB === null ? '' : `; V8 old space capped at ${f.serviceHeapMiB} MiB`}`);
  }
  if (r.storm) {
    const t = r.storm;
    lines.push(`storm: ${t.guesses} wrong guesses from ${t.addresses} addresses in ${s(t.durationMs)}; succeeded: ${t.succeeded}; statuses ${JSON.stringify(t.guessStatuses)}`);
    lines.push(`       technician: ${t.technicianLogins} sign-ins, no token ${t.technicianFailures}, 429 retried ${t.technicianBusy}, p50 ${t.technicianP50Ms} ms, p95 ${t.technicianP95Ms} ms, max ${t.technicianMaxMs} ms, over 1 s: ${t.technicianOver1s}; alerts raised ${t.alertsRaised}, cleared ${t.alertsCleared}`);
  }
  if (r.broken.length > 0) {
    lines.push('broken invariants:');
    for (const b of r.broken) lines.push(`  - ${b}`);
  } else lines.push('every invariant held');
  return `${lines.join('\n')}\n`;
}
