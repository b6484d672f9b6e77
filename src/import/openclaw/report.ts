/** What an import did with each thing it found, and why: printed for people, or as JSON. */

/** The kinds of things an OpenClaw install holds that the import looks at. */
export type ItemKind = 'device' | 'cron-job' | 'agent' | 'provider' | 'shared-token' | 'setting' | 'pending-pairing';

/**
 * `imported`: written (or, in a dry run, would be); `unchanged`: already here from an
 * earlier import, left alone; `skipped`: not carried over, `reason` says why.
 */
export type Outcome = 'imported' | 'unchanged' | 'skipped';

export interface ReportItem {
  kind: ItemKind;
  /** What it is in the OpenClaw install (a device id and name, a job name, a config path). */
  source: string;
  /** What it is here (a device id, a job id, a config path), when imported or present. */
  target?: string;
  outcome: Outcome;
  /** Why it was skipped; for an imported or unchanged item, what it is (role and scopes, schedule, ...). */
  reason?: string;
  /** What of it was not carried over although it was imported. */
  notes?: string[];
}

export interface ImportReport {
  source: { dir: string; openclawVersion: string; schemaVersion: number; walFramesApplied: number };
  target: { stateDir: string; backend: 'files' | 'postgres' };
  dryRun: boolean;
  items: ReportItem[];
  counts: Record<Outcome, number>;
}

export function countOutcomes(items: readonly ReportItem[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { imported: 0, unchanged: 0, skipped: 0 };
  for (const i of items) counts[i.outcome]++;
  return counts;
}

const TITLES: Record<ItemKind, string> = {
  device: 'Paired devices',
  'cron-job': 'Cron jobs',
  agent: 'Agents',
  provider: 'Model providers',
  'shared-token': 'Shared gateway token',
  setting: 'Other settings',
  'pending-pairing': 'Pending pairing requests',
};

/** The report for people: one line per item, grouped by kind, then the totals. */
export function formatReport(r: ImportReport): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'Dry run (nothing written): would import' : 'Imported';
  lines.push(`${verb} OpenClaw ${r.source.openclawVersion} (state schema ${r.source.schemaVersion}) from ${r.source.dir}`);
  lines.push(`into ${r.target.backend === 'postgres' ? 'PostgreSQL' : `the state dir ${r.target.stateDir}`}${r.source.walFramesApplied ? ` (${r.source.walFramesApplied} committed WAL frames applied from openclaw.sqlite-wal)` : ''}`);
  for (const kind of Object.keys(TITLES) as ItemKind[]) {
    const items = r.items.filter((i) => i.kind === kind);
    if (items.length === 0) continue;
    lines.push('', `${TITLES[kind]}:`);
    for (const i of items) {
      const outcome = r.dryRun && i.outcome === 'imported' ? 'would import' : i.outcome;
      lines.push(`  ${outcome.padEnd(12)} ${i.source}${i.target && !i.source.startsWith(i.target) ? ` -> ${i.target}` : ''}${i.reason ? `: ${i.reason}` : ''}`);
      for (const n of i.notes ?? []) lines.push(`  ${''.padEnd(12)}   note: ${n}`);
    }
  }
  const c = r.counts;
  lines.push('', `${r.dryRun ? 'Would import' : 'Imported'} ${c.imported}, unchanged ${c.unchanged}, skipped ${c.skipped}.`);
  return lines.join('\n') + '\n';
}
