import { existsSync, readFileSync, renameSync } from 'node:fs';
import { errors } from '../errors';
import type { Collection, StoreBackend } from './collection';

/** A certificate the registry issued to a device. */
export interface CertRecord {
  serial: string;
  notBefore: number;
  notAfter: number;
  issuedAt: number;
}

/** How a device came to be registered. */
export type DeviceSource = 'provisioned' | 'paired' | 'bootstrap' | 'legacy';

/** One device as the registry knows it. The registry, not the certificate, is the authority. */
export interface DeviceRecord {
  id: string;
  label: string;
  role: string;
  scopes: string[];
  status: 'active' | 'revoked';
  source: DeviceSource;
  /** The one certificate currently accepted for this device (legacy devices have none). */
  cert?: CertRecord;
  /** Serials issued before the current one; never accepted again. */
  previousSerials: string[];
  createdAt: number;
  approvedAt?: number;
  revokedAt?: number;
  revokeReason?: string;
  /** Legacy (WS bridge) devices: raw Ed25519 public key and the hash of the device token. */
  legacy?: { publicKey: string; deviceTokenHash?: string; tokenIssuedAt?: number };
}

/** Name of the devices collection. */
export const DEVICES = 'devices';

/** Checks a device record read from storage. */
export function validateDeviceRecord(raw: unknown): DeviceRecord {
  const d = raw as DeviceRecord;
  if (!d || typeof d !== 'object' || typeof d.id !== 'string' || !/^[0-9a-f]{64}$/.test(d.id)) throw new Error('a device record needs a 64-hex id');
  if (typeof d.role !== 'string' || !Array.isArray(d.scopes) || (d.status !== 'active' && d.status !== 'revoked')) throw new Error(`device record ${d.id} is malformed`);
  d.previousSerials ??= [];
  return d;
}

interface DevicesDoc {
  version: 1;
  devices: Record<string, DeviceRecord>;
}

/**
 * Opens the devices collection. The first time a files backend opens it next to a
 * `devices.json` of an earlier release, that file's records are imported (once, in one
 * transaction; the file is then renamed `devices.json.imported`).
 */
export async function openDevices(backend: StoreBackend, legacyJson?: string): Promise<Collection<DeviceRecord>> {
  // The old file is read and checked before anything is created: a file that cannot be
  // imported leaves the state dir exactly as it was.
  const legacy = backend.kind === 'files' && legacyJson ? readLegacyDevices(legacyJson) : undefined;
  const devices = await backend.collection(DEVICES, validateDeviceRecord);
  if (legacy && legacyJson) {
    // Under the collection's lock, so that processes starting together import it once.
    // An empty collection is the sign that nobody imported it yet.
    await devices.mutate((tx) => {
      if (tx.list().length === 0) for (const r of legacy) tx.put(r);
    });
    // Renamed only once the import is committed (a failed commit leaves the file to retry).
    try {
      renameSync(legacyJson, `${legacyJson}.imported`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return devices;
}

/** The records of an earlier release's devices.json, each checked; STATE_CORRUPT naming the file otherwise. */
function readLegacyDevices(path: string): DeviceRecord[] | undefined {
  try {
    if (!existsSync(path)) return undefined;
    const doc = JSON.parse(readFileSync(path, 'utf8')) as DevicesDoc;
    if (!doc || doc.version !== 1 || typeof doc.devices !== 'object' || doc.devices === null) throw new Error('expected {"version":1,"devices":{...}}');
    return Object.values(doc.devices).map((raw) => validateDeviceRecord(raw));
  } catch (err) {
    // Renamed by another process that imported it between our look and our read: nothing to do.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.precondition('STATE_CORRUPT', `${path} (devices of an earlier release) cannot be imported: ${(err as Error).message}`);
  }
}
