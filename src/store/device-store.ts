import { JsonFile } from './json-file';

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

/** Storage for device records. Every mutation is one atomic transaction. */
export interface DeviceStore {
  get(id: string): DeviceRecord | undefined;
  list(): DeviceRecord[];
  /** Runs `fn` on the current records under exclusive access and persists what it changed. */
  transaction<R>(fn: (devices: Record<string, DeviceRecord>) => R): R;
}

interface DevicesDoc {
  version: 1;
  devices: Record<string, DeviceRecord>;
}

function validateDoc(raw: unknown): DevicesDoc {
  const doc = raw as DevicesDoc;
  if (!doc || typeof doc !== 'object' || doc.version !== 1 || typeof doc.devices !== 'object' || doc.devices === null) {
    throw new Error('expected {"version":1,"devices":{...}}');
  }
  for (const [id, d] of Object.entries(doc.devices)) {
    if (!d || d.id !== id || typeof d.role !== 'string' || !Array.isArray(d.scopes) || (d.status !== 'active' && d.status !== 'revoked')) {
      throw new Error(`device record ${id} is malformed`);
    }
    d.previousSerials ??= [];
  }
  return doc;
}

/** Device records in one JSON file, safe for several processes (gateway + certs-tools). */
export class FileDeviceStore implements DeviceStore {
  private readonly file: JsonFile<DevicesDoc>;
  constructor(path: string) {
    this.file = new JsonFile<DevicesDoc>(path, () => ({ version: 1, devices: {} }), validateDoc);
  }
  get(id: string): DeviceRecord | undefined {
    return this.file.read().devices[id];
  }
  list(): DeviceRecord[] {
    return Object.values(this.file.read().devices);
  }
  transaction<R>(fn: (devices: Record<string, DeviceRecord>) => R): R {
    return this.file.update((doc) => fn(doc.devices));
  }
}

/** Device records in memory (tests, embedding). */
export class MemoryDeviceStore implements DeviceStore {
  private devices: Record<string, DeviceRecord> = {};
  get(id: string): DeviceRecord | undefined {
    return this.devices[id];
  }
  list(): DeviceRecord[] {
    return Object.values(this.devices);
  }
  transaction<R>(fn: (devices: Record<string, DeviceRecord>) => R): R {
    const copy = structuredClone(this.devices);
    const result = fn(copy);
    this.devices = copy;
    return result;
  }
}
