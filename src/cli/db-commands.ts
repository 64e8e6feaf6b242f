// `deployr db migrate|copy`: bring a store's schema up to date, and move a single-node SQLite install into PostgreSQL.

import { plural, type CommandIo } from './output.js';

/** What `db copy` moved, as the store reports it. */
export interface DatabaseCopyReport {
  tables: { name: string; rows: number }[];
  auditRows: number;
  head: { seq: number; mac: string } | null;
}

/** `deployr db migrate`: runs the migrations the store lacks and says from which version to which. */
export async function dbMigrate(where: string, migrate: () => Promise<{ from: number; to: number }>, io: CommandIo): Promise<number> {
  const { from, to } = await migrate();
  io.out(from === to ? `${where}: the schema is at version ${to}, nothing to do.` : `${where}: schema version ${from} → ${to}.`);
  return 0;
}

/**
 * `deployr db copy --from sqlite:PATH --to postgres://…`: copies every table in one transaction,
 * which commits only when every count matches and the audit chain verifies in the target.
 */
export async function dbCopy(from: string, to: string, copy: () => Promise<DatabaseCopyReport>, io: CommandIo): Promise<number> {
  const report = await copy();
  const rows = report.tables.reduce((n, t) => n + t.rows, 0);
  io.out(`Copied ${plural(rows, 'row')} in ${plural(report.tables.length, 'table')} from ${from} to ${to}:`);
  for (const t of report.tables) io.out(`  ${t.name.padEnd(18)} ${t.rows}`);
  io.out(`The audit chain verifies in the target: ${plural(report.auditRows, 'entry', 'entries')}.`);
  if (report.head) io.out(`Head: ${report.head.seq}:${report.head.mac}  (the same as deployr audit verify printed for the SQLite store)`);
  io.out('Start the nodes with --database (or DEPLOYR_DATABASE_URL) set to the target; keep the SQLite file as a backup.');
  return 0;
}
