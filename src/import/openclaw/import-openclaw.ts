import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { audit, type Logger } from '../../logging';
import { statePaths } from '../../identity/state-layout';
import { writeFileAtomicSync } from '../../store/atomic-file';
import type { Collection, StoreBackend } from '../../store/collection';
import { DEVICES, openDevices, type DeviceRecord } from '../../store/device-store';
import { openStore } from '../../store/open-store';
import { COUNTER_ID, CRON, validateCronRecord, type CounterRecord, type CronRecord, type JobRecord } from '../../services/cron/cron-records';
import { openCron } from '../../services/cron/cron-store';
import { parseConfig } from '../../services/config/config-schema';
import { RUNTIME_CONFIG, RUNTIME_CONFIG_ID, openRuntimeConfig, type RuntimeConfigRecord } from '../../services/config/runtime-config-store';
import { deviceOutcome, planDevice, type PlannedDevice } from './devices';
import { planJob, type PlannedJob } from './cron-jobs';
import { countOutcomes, type ImportReport, type ReportItem } from './report';
import { planSettings, type PlannedSettings } from './settings';
import { readOpenclawSource, SourceRefused } from './source';

/** The write steps of an import, in order. */
export type ImportStep = 'devices' | 'cron' | 'runtime-config' | 'shared-token';

export interface ImportOptions {
  /** The OpenClaw state folder (`~/.openclaw`). Only ever read. */
  from: string;
  /** Our state dir (the shared token's file lives there; so do records with the files backend). */
  stateDir: string;
  /** Our PostgreSQL database, when the gateway keeps its records there. */
  databaseUrl?: string;
  /** Report what would be imported; write nothing. */
  dryRun?: boolean;
  log: Logger;
  now?: () => number;
  /**
   * Called before each write step (tests inject a failure midway with it). When it or a
   * step throws, the steps done are undone and the error is passed on.
   */
  beforeStep?: (step: ImportStep) => void | Promise<void>;
}

/** An import that failed and could not put everything back: says what is left. */
export class ImportUndoFailed extends Error {}

/**
 * Imports an OpenClaw install into this gateway's state, all or nothing: everything is read
 * and checked first (a source that is not understood is refused before anything is
 * written), then written in four steps (devices, cron jobs, runtime config: one
 * transaction each; then the shared token's file, atomically). A step that fails undoes
 * the steps before it (each removes exactly what it added and restores what it replaced),
 * so the state is as it was. What is here already (a device, a job, an agent from an
 * earlier import) is left alone: importing twice changes nothing. Run it while this
 * gateway is stopped (the shared token is read at start; a device that connects between
 * the steps could otherwise be undone with them).
 */
export async function importOpenclaw(opts: ImportOptions): Promise<ImportReport> {
  const now = opts.now ?? Date.now;
  refuseOverlap(opts.from, opts.stateDir);
  const source = await readOpenclawSource(opts.from);
  const devices: PlannedDevice[] = [];
  const jobs: PlannedJob[] = [];
  const items: ReportItem[] = [];
  for (const row of source.paired) {
    const p = planDevice(row);
    if ('record' in p) devices.push(p);
    items.push('record' in p ? p.item : p);
  }
  const nowMs = now();
  for (const row of source.cronJobs) {
    const p = planJob(row, nowMs);
    if ('record' in p) jobs.push(p);
    items.push('record' in p ? p.item : p);
  }
  if (source.pendingPairings > 0) {
    items.push({ kind: 'pending-pairing', source: `${source.pendingPairings} request(s) waiting for approval in OpenClaw`, outcome: 'skipped', reason: 'not carried: such a device asks again when it connects here, and is approved here' });
  }
  const settings = planSettings(source.config, source.env);
  items.push(...settings.items);
  // A job for an agent that does not come along (its model has no provider here) runs only once one of that id is configured here.
  const agentIds = new Set(['main', ...settings.agents.map((a) => a.id)]);
  for (const j of jobs) {
    const p = j.record.payload;
    if (p.kind === 'agentTurn' && p.agentId && !agentIds.has(p.agentId)) (j.item.notes ??= []).push(`its agent "${p.agentId}" was not imported: configure one of that id here, or its runs fail`);
  }

  const paths = statePaths(opts.stateDir);
  const tokenFile = join(paths.root, 'legacy-token');
  const backendKind = opts.databaseUrl ? 'postgres' : 'files';
  const report = (): ImportReport => ({
    source: { dir: source.dir, openclawVersion: source.appVersion, schemaVersion: source.schemaVersion, walFramesApplied: source.walFrames },
    target: { stateDir: paths.root, backend: backendKind },
    dryRun: opts.dryRun === true,
    items,
    counts: countOutcomes(items),
  });

  if (opts.dryRun) {
    await compareWithoutWriting(opts, paths.root, paths.storeDir, devices, jobs, settings, tokenFile);
    return report();
  }

  const store = await openStore({ stateDir: paths.root, databaseUrl: opts.databaseUrl, log: opts.log });
  const undo: { what: string; run: () => Promise<void> | void }[] = [];
  try {
    const deviceCol = await openDevices(store);
    const cronCol = await openCron(store);
    const configCol = await openRuntimeConfig(store);

    await opts.beforeStep?.('devices');
    const addedDevices = await deviceCol.mutate((tx) => applyDevices(devices, (id) => tx.get(id), (r) => tx.put(r)));
    undo.push({ what: `devices ${addedDevices.join(', ')}`, run: () => deviceCol.mutate((tx) => void addedDevices.forEach((id) => tx.delete(id))) });

    await opts.beforeStep?.('cron');
    const cronDone = await cronCol.mutate((tx) => applyJobs(jobs, (id) => tx.get(id), (r) => tx.put(r)));
    undo.push({
      what: `cron jobs ${cronDone.added.join(', ')}`,
      run: () =>
        cronCol.mutate((tx) => {
          for (const id of cronDone.added) tx.delete(id);
          const counter = tx.get(COUNTER_ID) as CounterRecord | undefined;
          // The counter goes back only if nothing else took a number since.
          if (counter && counter.value === cronDone.counterAfter) {
            if (cronDone.counterBefore === undefined) tx.delete(COUNTER_ID);
            else tx.put({ id: COUNTER_ID, kind: 'counter', value: cronDone.counterBefore });
          }
        }),
    });

    await opts.beforeStep?.('runtime-config');
    const configBefore = await configCol.mutate((tx) => applySettings(settings, tx.get(RUNTIME_CONFIG_ID), (r) => tx.put(r)));
    if (configBefore.changed) {
      undo.push({
        what: 'runtime config',
        run: () =>
          configCol.mutate((tx) => {
            if (configBefore.before) tx.put(configBefore.before);
            else tx.delete(RUNTIME_CONFIG_ID);
          }),
      });
    }

    await opts.beforeStep?.('shared-token');
    applyToken(settings, readToken(tokenFile), (token) => writeFileAtomicSync(tokenFile, token + '\n', 0o600));

    // One audit line per device decision: imported (allowed), or not (why).
    for (const d of devices) {
      if (d.item.outcome === 'imported') audit(opts.log, 'device.import.openclaw', { deviceId: d.record.id, role: d.record.role, scopes: d.record.scopes, tokenKept: Boolean(d.record.legacy?.tokens?.[d.record.role]), allowed: true });
      else if (d.item.outcome === 'skipped') audit(opts.log, 'device.import.openclaw', { deviceId: d.record.id, reason: d.item.reason, allowed: false });
    }
    for (const i of items) {
      if (i.kind === 'device' && i.outcome === 'skipped' && !devices.some((d) => d.item === i)) audit(opts.log, 'device.import.openclaw', { device: i.source, reason: i.reason, allowed: false });
    }
    return report();
  } catch (err) {
    const failed: string[] = [];
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (undoErr) {
        failed.push(`${u.what} (${(undoErr as Error).message})`);
      }
    }
    if (failed.length) {
      throw new ImportUndoFailed(`the import failed (${(err as Error).message}) and these could not be removed again: ${failed.join('; ')}; remove them by hand or run the import again to finish it`);
    }
    throw err;
  } finally {
    await store.close();
  }
}

/** Devices: puts the new ones, marks each item; returns the ids added. */
function applyDevices(planned: PlannedDevice[], get: (id: string) => DeviceRecord | undefined, put?: (r: DeviceRecord) => void): string[] {
  const added: string[] = [];
  for (const d of planned) {
    const o = deviceOutcome(d.record, get(d.record.id));
    d.item.outcome = o.outcome;
    if (o.reason) {
      d.item.reason = o.reason;
      d.item.notes = [];
    }
    if (o.write) {
      put?.(d.record);
      added.push(d.record.id);
    }
  }
  return added;
}

/** Cron jobs: puts the new ones (numbered after the existing ones), marks each item. */
function applyJobs(planned: PlannedJob[], get: (id: string) => CronRecord | undefined, put?: (r: CronRecord) => void): { added: string[]; counterBefore?: number; counterAfter: number } {
  const counter = get(COUNTER_ID) as CounterRecord | undefined;
  let value = counter?.value ?? 0;
  const added: string[] = [];
  for (const j of planned) {
    if (get(j.record.id)) {
      j.item.outcome = 'unchanged';
      j.item.reason = 'already imported (left as it is)';
      j.item.notes = [];
      continue;
    }
    j.item.outcome = 'imported';
    const record: JobRecord = validateCronRecord({ ...j.record, seq: ++value }) as JobRecord;
    put?.(record);
    added.push(record.id);
  }
  if (added.length) put?.({ id: COUNTER_ID, kind: 'counter', value });
  return { added, counterBefore: counter?.value, counterAfter: value };
}

/** Provider and agents into the runtime config; marks each item. Returns what was there before, and whether it changed. */
function applySettings(s: PlannedSettings, current: RuntimeConfigRecord | undefined, put?: (r: RuntimeConfigRecord) => void): { before?: RuntimeConfigRecord; changed: boolean } {
  const providerItem = s.items.find((i) => i.kind === 'provider' && i.outcome === 'imported');
  const agentItems = new Map(s.items.filter((i) => i.kind === 'agent' && i.target).map((i) => [i.target!.replace(/^agents\.list /, ''), i]));
  if (!s.openai && s.agents.length === 0) return { before: current, changed: false };
  const settings = structuredClone(current?.settings ?? {}) as Record<string, any>;
  let changed = false;
  if (s.openai && providerItem) {
    const have = settings.providers?.openai;
    if (!have) {
      settings.providers = { ...(settings.providers ?? {}), openai: { ...s.openai } };
      changed = true;
    } else if (have.baseUrl === s.openai.baseUrl && have.apiKeyEnv === s.openai.apiKeyEnv && have.model === s.openai.model) {
      Object.assign(providerItem, { outcome: 'unchanged', reason: 'already configured the same here' });
    } else Object.assign(providerItem, { outcome: 'skipped', reason: 'providers.openai is configured differently here; not overwritten', target: undefined });
  }
  const storedList = settings.agents?.list as { id: string; name?: string; provider?: string; model?: string }[] | undefined;
  const list = storedList ? [...storedList] : [];
  for (const a of s.agents) {
    const item = agentItems.get(a.id)!;
    const have = list.find((x) => x.id === a.id);
    if (!have) {
      list.push({ ...a });
      changed = true;
    } else if (have.provider === a.provider && have.model === a.model) Object.assign(item, { outcome: 'unchanged', reason: 'already configured the same here' });
    else Object.assign(item, { outcome: 'skipped', reason: `an agent "${a.id}" is configured differently here; not overwritten`, target: undefined });
  }
  if (list.length) {
    settings.agents = { ...(settings.agents ?? {}), list };
    if (!settings.agents.default || !list.some((x) => x.id === settings.agents.default)) {
      const def = s.defaultAgent && list.some((x) => x.id === s.defaultAgent) ? s.defaultAgent : list[0].id;
      if (settings.agents.default !== def) {
        settings.agents.default = def;
        changed = true;
      }
    }
  }
  if (!changed) return { before: current, changed: false };
  try {
    parseConfig(settings);
  } catch (err) {
    for (const i of [providerItem, ...agentItems.values()]) if (i && i.outcome === 'imported') Object.assign(i, { outcome: 'skipped', reason: `the runtime config would be invalid: ${(err as Error).message}`, target: undefined });
    return { before: current, changed: false };
  }
  put?.({ id: RUNTIME_CONFIG_ID, settings });
  return { before: current, changed: true };
}

function readToken(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The shared token: marks its item; writes it when it differs from the one here. */
function applyToken(s: PlannedSettings, current: string | undefined, write?: (token: string) => void): void {
  const item = s.items.find((i) => i.kind === 'shared-token');
  if (!s.sharedToken || !item) return;
  if (current === s.sharedToken) {
    Object.assign(item, { outcome: 'unchanged', reason: 'this gateway already has it' });
    return;
  }
  item.outcome = 'imported';
  if (current) item.notes = [...(item.notes ?? []), "replaces this gateway's previous shared token (legacy clients configured with that one must switch)"];
  if (process.env.OPENCLAW_GATEWAY_TOKEN) item.notes = [...(item.notes ?? []), 'OPENCLAW_GATEWAY_TOKEN is set in this environment: a gateway started with it uses that instead of the file'];
  write?.(s.sharedToken);
}

/**
 * A dry run: the same decisions against what is stored, without writing anything (a
 * collection the files backend has no journal for yet is not opened, since opening
 * would create it).
 */
async function compareWithoutWriting(opts: ImportOptions, stateDir: string, storeDir: string, devices: PlannedDevice[], jobs: PlannedJob[], settings: PlannedSettings, tokenFile: string): Promise<void> {
  const files = !opts.databaseUrl;
  const exists = (name: string) => !files || existsSync(join(storeDir, `${name}.journal`));
  const needed = [DEVICES, CRON, RUNTIME_CONFIG].filter(exists);
  let store: StoreBackend | undefined;
  try {
    if (needed.length) store = await openStore({ stateDir, databaseUrl: opts.databaseUrl, log: opts.log });
    const get = <T>(col: Collection<T & { id: string }> | undefined) => (id: string) => col?.get(id);
    const deviceCol = store && needed.includes(DEVICES) ? await openDevices(store) : undefined;
    const cronCol = store && needed.includes(CRON) ? await openCron(store) : undefined;
    const configCol = store && needed.includes(RUNTIME_CONFIG) ? await openRuntimeConfig(store) : undefined;
    applyDevices(devices, get<DeviceRecord>(deviceCol));
    applyJobs(jobs, get<CronRecord>(cronCol));
    applySettings(settings, configCol?.get(RUNTIME_CONFIG_ID));
    applyToken(settings, readToken(tokenFile));
  } finally {
    await store?.close();
  }
}

/**
 * Both gateways default to ~/.openclaw: writing our state into the OpenClaw folder would
 * write into the source. Refused with one line.
 */
function refuseOverlap(from: string, stateDir: string): void {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  const a = real(from);
  const b = real(stateDir);
  if (a === b || b.startsWith(a + sep) || a.startsWith(b + sep)) {
    throw new SourceRefused(`${from}: this is (or holds) the state dir ${stateDir} the import would write to; both gateways default to ~/.openclaw, so give this gateway another one with --state-dir (and start it with the same --state-dir)`);
  }
}
