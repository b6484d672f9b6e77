/**
 * Every device key type end to end over mTLS against a real gateway: an identity
 * provisioned by the gateway's registry (key made there) and one issued for a CSR
 * whose key openssl made (it never leaves the device folder) both authenticate, and
 * WhoAmI returns the device id = sha256(SPKI) of the key; renewal over mTLS keeps
 * the key type. The gateway's own local identities are P-256.
 */
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCsr, keyTypeOf, KEY_TYPES, readCertsDir, writeIssuedIdentity, type KeyType } from '../../src/identity';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { opensslOk } from '../helpers/openssl';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-grpc-keytypes-');
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.close();
});

/** The device id anyone can compute from a key: sha256 of its SPKI DER. */
function spkiSha256(keyPem: string): string {
  return createHash('sha256').update(createPublicKey(keyPem).export({ type: 'spki', format: 'der' })).digest('hex');
}

const whoAmI = (c: GatewayConnection) => {
  const d = c.client(DeviceService);
  return unaryCall(d, d.whoAmI, {});
};

/** openssl arguments that make a key of each type. */
const OPENSSL_KEY_ARGS: Record<KeyType, string[]> = {
  rsa: ['-newkey', 'rsa:2048'],
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  ed25519: ['-newkey', 'ed25519'],
};

test('the local identities made on first start have P-256 keys and authenticate', async () => {
  for (const name of ['cli', 'worker', 'bridge'] as const) {
    const dir = readCertsDir(t.gw.identities[name]);
    expect(keyTypeOf(new X509Certificate(dir.certPem).publicKey)).toBe('p256');
    expect(dir.meta?.keyType).toBe('p256');
  }
  const me = await whoAmI(t.connect('cli'));
  expect(me.device?.deviceId).toBe(spkiSha256(readCertsDir(t.gw.identities.cli).keyPem));
});

describe.each(KEY_TYPES.map((k) => [k]))('%s device key', (type) => {
  it('provisioned by the registry: the folder connects over mTLS and WhoAmI returns sha256(SPKI)', async () => {
    const dir = tmp();
    const issued = await t.gw.registry.provision({ role: 'operator', label: `provisioned-${type}`, keyType: type, scopes: ['operator.read'] });
    writeIssuedIdentity(dir, issued, t.gw.registry.ca, { issuedBy: 'test' });
    const me = await whoAmI(t.connectDir(dir));
    expect(me.device).toMatchObject({ deviceId: issued.device.id, label: `provisioned-${type}`, role: 'operator', status: 'active' });
    expect(me.device!.deviceId).toBe(spkiSha256(issued.keyPem));
    expect(keyTypeOf(new X509Certificate(readFileSync(join(dir, 'cert.pem'), 'utf8')).publicKey)).toBe(type);
  });

  it('issued for an openssl-made CSR (key kept in the device folder): connects, WhoAmI, renews with the same key', async () => {
    const dir = join(tmp(), 'device');
    mkdirSync(dir);
    const keyFile = join(dir, 'key.pem');
    const csrPem = opensslOk(['req', '-new', ...OPENSSL_KEY_ARGS[type], '-nodes', '-keyout', keyFile, '-subj', `/CN=csr-${type}`]);
    const keyPem = readFileSync(keyFile, 'utf8');
    const issued = await t.gw.registry.provisionFromCsr({ csrPem, role: 'node', label: `csr-${type}` });
    writeIssuedIdentity(dir, issued, t.gw.registry.ca, { issuedBy: 'test' });
    expect(readFileSync(keyFile, 'utf8')).toBe(keyPem);

    const conn = t.connectDir(dir);
    const me = await whoAmI(conn);
    expect(me.device).toMatchObject({ deviceId: issued.device.id, label: `csr-${type}`, role: 'node' });
    expect(me.device!.deviceId).toBe(spkiSha256(keyPem));

    // Renewal over mTLS: a CSR made by createCsr with the same key keeps the device (and key type).
    const d = conn.client(DeviceService);
    const renewed = await unaryCall(d, d.renewCertificate, { csrPem: createCsr({ privateKeyPem: keyPem, label: `csr-${type}` }) });
    const x = new X509Certificate(renewed.certPem);
    expect(keyTypeOf(x.publicKey)).toBe(type);
    expect(renewed.device?.deviceId).toBe(issued.device.id);
    expect(x.serialNumber.toLowerCase()).not.toBe(new X509Certificate(issued.certPem).serialNumber.toLowerCase());
  });
});
