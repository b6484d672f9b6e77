import { importLegacyRecords, readLegacyRecords } from './legacy-import';
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
  /** Legacy (WS bridge) devices: raw Ed25519 public key, device tokens (hashed), what the client reported. */
  legacy?: LegacyDeviceData;
}

/**
 * One role's device token of a legacy device, as stored. Never the token: its SHA-256,
 * and the random id it is derived from with a key that only the gateway holds (so the
 * gateway can hand the same token back on every connect, and the store alone cannot).
 */
export interface LegacyTokenRecord {
  id: string;
  /** SHA-256 (hex) of the token. */
  hash: string;
  scopes: string[];
  createdAt: number;
  rotatedAt?: number;
  revokedAt?: number;
  lastUsedAt?: number;
}

/** What the gateway keeps about a legacy device besides the grant. */
export interface LegacyDeviceData {
  publicKey: string;
  /** Earlier releases: hash of the token minted at the device's last connect (accepted once more, then replaced). */
  deviceTokenHash?: string;
  tokenIssuedAt?: number;
  /** Device tokens by role. */
  tokens?: Record<string, LegacyTokenRecord>;
  platform?: string;
  deviceFamily?: string;
  clientId?: string;
  clientMode?: string;
  remoteIp?: string;
  lastSeenAt?: number;
  /** "connect" (shared token) or "device-token-auth". */
  lastSeenReason?: string;
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

/**
 * Opens the devices collection. The first time a files backend opens it next to a
 * `devices.json` of an earlier release, that file's records are imported (once, in one
 * transaction; the file is then renamed `devices.json.imported`).
 */
export async function openDevices(backend: StoreBackend, legacyJson?: string): Promise<Collection<DeviceRecord>> {
  const legacy = backend.kind === 'files' && legacyJson ? readLegacyRecords(legacyJson, 'devices', devicesOfDoc) : undefined;
  const devices = await backend.collection(DEVICES, validateDeviceRecord);
  if (legacy && legacyJson) await importLegacyRecords(devices, legacyJson, legacy);
  return devices;
}

/** The records of an earlier release's devices.json (`{"version":1,"devices":{...}}`), each checked. */
function devicesOfDoc(raw: unknown): DeviceRecord[] {
  const doc = raw as { version?: number; devices?: Record<string, unknown> };
  if (!doc || doc.version !== 1 || typeof doc.devices !== 'object' || doc.devices === null) throw new Error('expected {"version":1,"devices":{...}}');
  return Object.values(doc.devices).map((r) => validateDeviceRecord(r));
}
