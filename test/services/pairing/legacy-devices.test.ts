/**
 * Legacy device tokens (LegacyDevices) on both backends, with two replicas over one
 * store, as two gateway processes would have: a token issued through one replica is the
 * one the other hands back and accepts; only its hash is stored; it is tied to the
 * device record (a removed device's token dies with it), to its role (revoking that
 * role's token ends it, and the device must be approved again) and to its approved
 * scopes. Rotation and revocation follow the legacy gateway's rules on who may do what.
 * Also: pairing request ids never start with "-".
 */
import { createHash, randomBytes } from 'node:crypto';
import { ManualClock } from '../../../src/clock';
import { CertificateAuthority, DeviceRegistry } from '../../../src/identity';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { BootstrapTokens, openTokens } from '../../../src/services/pairing/bootstrap-tokens';
import { LegacyDevices, type LegacyConnect, type TokenManager } from '../../../src/services/pairing/legacy-devices';
import { LegacyDeviceTokens, LEGACY_TOKEN_KEY_PURPOSE } from '../../../src/services/pairing/legacy-device-tokens';
import { newRequestId, PairingService } from '../../../src/services/pairing/pairing-service';
import { openPairingRequests } from '../../../src/services/pairing/pairing-requests';
import { RateLimiter } from '../../../src/services/pairing/rate-limiter';
import type { Collection } from '../../../src/store/collection';
import { openDevices, type DeviceRecord } from '../../../src/store/device-store';
import { legacyDeviceKey } from '../../helpers/grpc-kit';
import { storeBackends } from '../../helpers/store-backends';
import { eventually } from '../../helpers/eventually';
import { capturingLogger, caught } from '../helpers';

const clock = new ManualClock(Date.now());
const made = CertificateAuthority.create('legacy-test.local', clock.now());
const ca = new CertificateAuthority(made.certPem, made.keyPem, 'legacy-test.local');
const WIDE = { capacity: 100_000, perMinute: 100_000 };
const OPERATOR: TokenManager = { deviceId: 'operator-cli', scopes: ['operator.admin', 'operator.read', 'operator.write', 'operator.pairing'], viaOwnDeviceToken: false, actor: 'operator-cli' };

const stores = storeBackends();
beforeAll(() => stores.start(), 60_000);
afterAll(() => stores.stop());

interface Replica {
  legacy: LegacyDevices;
  pairing: PairingService;
  registry: DeviceRegistry;
  devices: Collection<DeviceRecord>;
  events: RecordingPublisher;
  lines: string[];
  audits(event: string): Record<string, unknown>[];
}

test('pairing request ids are UUIDs: never "-" first (a command-line option), always what legacy clients parse', () => {
  // The 16-character base64url ids of earlier releases started with "-" about once in 64.
  const ids = Array.from({ length: 4000 }, () => newRequestId());
  expect(ids.filter((id) => id.startsWith('-'))).toEqual([]);
  // The real clients' pattern for request ids in pairing-required answers.
  expect(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(id))).toEqual([]);
  expect(new Set(ids).size).toBe(ids.length);
});

describe.each(stores.all)('legacy device tokens across replicas ($label)', (b) => {
  const running: PairingService[] = [];
  let a: Replica;
  let other: Replica;

  const replica = async (place: string): Promise<Replica> => {
    const store = await b.open(place);
    const { logger, lines } = capturingLogger();
    const devices = await openDevices(store);
    const registry = new DeviceRegistry({ store: devices, ca, clock, log: logger });
    const events = new RecordingPublisher();
    const pairing = new PairingService({
      registry,
      tokens: new BootstrapTokens(await openTokens(store), clock),
      requests: await openPairingRequests(store),
      clock,
      events,
      log: logger,
      limits: () => ({ pendingTtlMs: 5 * 60_000, maxPending: 64 }),
      rateLimiter: new RateLimiter(clock, WIDE, WIDE),
    });
    running.push(pairing);
    const legacy = new LegacyDevices({ registry, pairing, tokens: new LegacyDeviceTokens(ca.deriveSecret(LEGACY_TOKEN_KEY_PURPOSE)), clock, log: logger });
    const audits = (event: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true && l.event === event);
    return { legacy, pairing, registry, devices, events, lines, audits };
  };

  beforeEach(async () => {
    const place = await b.newPlace();
    a = await replica(place);
    other = await replica(place);
  });
  afterEach(() => {
    for (const p of running.splice(0)) p.stop();
  });

  const connect = (key: { deviceId: string; publicKey: string }, over: Partial<LegacyConnect> = {}): LegacyConnect => ({
    deviceId: key.deviceId,
    publicKey: key.publicKey,
    role: 'operator',
    scopes: ['operator.read'],
    displayName: 'laptop',
    clientInfo: 'cli/cli/linux',
    client: { platform: 'linux', clientId: 'cli', clientMode: 'cli', remoteIp: '203.0.113.7' },
    sharedSecretOk: true,
    ...over,
  });

  /** A device paired for `scopes` through replica `r`'s queue. */
  const paired = async (r: Replica, scopes: string[]) => {
    const key = legacyDeviceKey();
    const first = await r.legacy.authorize(connect(key, { scopes }));
    expect(first).toMatchObject({ approved: false, reason: 'not-paired', requestId: expect.any(String) });
    await r.pairing.approve(first.requestId!, { actor: 'ops' });
    return key;
  };

  test('issued through one replica, the same token on every connect through either; stored as a hash only', async () => {
    const key = await paired(a, ['operator.read', 'operator.write']);
    const first = await a.legacy.authorize(connect(key));
    expect(first).toMatchObject({ approved: true, method: 'token', role: 'operator', scopes: ['operator.read'], deviceToken: expect.any(String), issuedAt: clock.now() });
    const token = first.deviceToken!;
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    clock.advance(60_000);
    // The other replica hands back the same token (it derives it, nothing secret is stored), and accepts it.
    await eventually('the other replica sees the token record', () => other.registry.get(key.deviceId)?.legacy?.tokens?.operator !== undefined);
    const again = await other.legacy.authorize(connect(key, { scopes: ['operator.read', 'operator.write'] }));
    expect(again).toMatchObject({ approved: true, method: 'token', deviceToken: token, issuedAt: first.issuedAt, scopes: ['operator.read', 'operator.write'] });
    const byToken = await other.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token }));
    expect(byToken).toMatchObject({ approved: true, method: 'device-token', deviceToken: token });

    const record = (await a.devices.mutate((tx) => tx.get(key.deviceId)))!;
    expect(record.legacy!.tokens!.operator).toMatchObject({ hash: createHash('sha256').update(token).digest('hex'), scopes: ['operator.read', 'operator.write'], lastUsedAt: clock.now() });
    expect(record.legacy).toMatchObject({ platform: 'linux', clientId: 'cli', clientMode: 'cli', remoteIp: '203.0.113.7', lastSeenReason: 'device-token-auth' });
    expect(JSON.stringify(record)).not.toContain(token);
    expect([...a.lines, ...other.lines].some((l) => l.includes(token))).toBe(false);
    expect(a.audits('legacy.token.issue')).toEqual([expect.objectContaining({ deviceId: key.deviceId, role: 'operator', rotated: false, allowed: true })]);
    expect(other.audits('legacy.device-token')).toEqual([expect.objectContaining({ deviceId: key.deviceId, allowed: true })]);
  });

  test('a token this gateway does not derive (imported from an OpenClaw install, stored as its hash): accepted and handed back as it is while presented; a shared-token connect replaces it', async () => {
    const key = legacyDeviceKey();
    const imported = randomBytes(32).toString('base64url');
    const hash = createHash('sha256').update(imported).digest('hex');
    const record: DeviceRecord = {
      id: key.deviceId, label: 'imported', role: 'operator', scopes: ['operator.read'], status: 'active', source: 'legacy', previousSerials: [], createdAt: 1, approvedAt: 1,
      legacy: { publicKey: key.publicKey, tokens: { operator: { id: 'openclaw-import', hash, scopes: ['operator.read'], createdAt: 1 } } },
    };
    await a.devices.mutate((tx) => tx.put(record));
    await eventually('the other replica knows the device', () => other.registry.get(key.deviceId) !== undefined);
    for (const r of [a, other]) {
      expect(await r.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: imported }))).toMatchObject({ approved: true, method: 'device-token', deviceToken: imported, issuedAt: 1 });
    }
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: imported.slice(0, -1) + (imported.endsWith('A') ? 'E' : 'A') }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    expect((await a.devices.mutate((tx) => tx.get(key.deviceId)))!.legacy!.tokens!.operator).toMatchObject({ id: 'openclaw-import', hash });
    // With the shared token the gateway cannot hand it back (it only has the hash): a new token, the old one ends.
    const viaShared = await a.legacy.authorize(connect(key));
    expect(viaShared).toMatchObject({ approved: true, method: 'token', deviceToken: expect.any(String) });
    expect(viaShared.deviceToken).not.toBe(imported);
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: imported }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: viaShared.deviceToken }))).toMatchObject({ approved: true, deviceToken: viaShared.deviceToken });
  });

  test('two first connects at once, one on each replica: one token for both', async () => {
    const key = await paired(a, ['operator.read']);
    await eventually('the other replica knows the device', () => other.registry.get(key.deviceId) !== undefined);
    const [x, y] = await Promise.all([a.legacy.authorize(connect(key)), other.legacy.authorize(connect(key))]);
    expect(x.deviceToken).toBeDefined();
    expect(y.deviceToken).toBe(x.deviceToken);
  });

  test('no credential, a wrong token, a token asking for more: refused, no pairing request, audited', async () => {
    const key = await paired(a, ['operator.read']);
    const token = (await a.legacy.authorize(connect(key))).deviceToken!;
    const before = a.events.events.length;
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false }))).toMatchObject({ approved: false, authFailure: 'credential-missing' });
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token.slice(1) + 'A' }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token, role: 'node' }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token, scopes: ['operator.read', 'operator.admin'] }))).toMatchObject({ approved: false, authFailure: 'scope-mismatch' });
    // Another device's token does not fit this device.
    const otherKey = await paired(a, ['operator.read']);
    expect(await a.legacy.authorize(connect(otherKey, { sharedSecretOk: false, deviceToken: token }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    expect(a.events.events.slice(before).filter((e) => e.type === 'device.pair.requested')).toHaveLength(1);
    expect(a.audits('legacy.device-token').filter((l) => l.allowed === false).map((l) => l.reason)).toEqual(['device-token-mismatch', 'device-token-mismatch', 'scope-mismatch', 'device-token-mismatch']);
    expect(a.audits('legacy.connect')).toEqual([expect.objectContaining({ deviceId: key.deviceId, reason: 'credential-missing', allowed: false })]);
  });

  test('a scope upgrade keeps the token, which then carries the new scopes; narrowing the grant replaces it', async () => {
    const key = await paired(a, ['operator.read']);
    const token = (await a.legacy.authorize(connect(key))).deviceToken!;
    const up = await a.legacy.authorize(connect(key, { scopes: ['operator.read', 'operator.write'] }));
    expect(up).toMatchObject({ approved: false, reason: 'scope-upgrade', approvedRoles: ['operator'], approvedScopes: ['operator.read'] });
    expect(a.events.events.filter((e) => e.type === 'device.pair.requested').at(-1)!.payload).toMatchObject({ requestId: up.requestId, isRepair: true, silent: false, publicKey: key.publicKey, platform: 'linux', clientId: 'cli', clientMode: 'cli', roles: ['operator'], remoteIp: '203.0.113.7' });
    await other.pairing.approve(up.requestId!, { actor: 'ops' });
    const after = await other.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token, scopes: ['operator.read', 'operator.write'] }));
    expect(after).toMatchObject({ approved: true, method: 'device-token', deviceToken: token, scopes: ['operator.read', 'operator.write'] });
    // An operator narrows the grant: the token no longer fits it and is replaced at the next connect.
    await a.registry.setScopes(key.deviceId, ['operator.read']);
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token, scopes: ['operator.write'] }))).toMatchObject({ approved: false, authFailure: 'scope-mismatch' });
    const narrowed = await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token }));
    expect(narrowed).toMatchObject({ approved: true, scopes: ['operator.read'] });
    expect(narrowed.deviceToken).not.toBe(token);
    expect(a.audits('legacy.token.issue').at(-1)).toMatchObject({ deviceId: key.deviceId, rotated: true });
  });

  test('revoking a role token: refused on the other replica at once; the device stays paired and asks again (role-upgrade)', async () => {
    const key = await paired(a, ['operator.read']);
    const token = (await a.legacy.authorize(connect(key))).deviceToken!;
    const revoked = await other.legacy.revokeToken({ deviceId: key.deviceId, role: 'operator', caller: OPERATOR });
    expect(revoked).toEqual({ deviceId: key.deviceId, role: 'operator', revokedAt: clock.now() });
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    expect(a.registry.get(key.deviceId)).toMatchObject({ status: 'active' });
    const again = await a.legacy.authorize(connect(key));
    expect(again).toMatchObject({ approved: false, reason: 'role-upgrade', approvedRoles: ['operator'], approvedScopes: ['operator.read'] });
    await a.pairing.approve(again.requestId!, { actor: 'ops' });
    const back = await other.legacy.authorize(connect(key));
    expect(back).toMatchObject({ approved: true, deviceToken: expect.any(String) });
    expect(back.deviceToken).not.toBe(token);
    expect(other.audits('legacy.token.revoke')).toEqual([expect.objectContaining({ deviceId: key.deviceId, role: 'operator', actor: 'operator-cli', allowed: true })]);
  });

  test('a removed device: its token dies with it; paired again, it gets a new one', async () => {
    const key = await paired(a, ['operator.read']);
    const token = (await a.legacy.authorize(connect(key))).deviceToken!;
    await other.registry.revoke(key.deviceId, 'removed');
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token }))).toMatchObject({ approved: false, authFailure: 'device-token-mismatch' });
    const ask = await a.legacy.authorize(connect(key));
    expect(ask).toMatchObject({ approved: false, reason: 'not-paired' });
    await a.pairing.approve(ask.requestId!, { actor: 'ops' });
    const fresh = await a.legacy.authorize(connect(key));
    expect(fresh.deviceToken).not.toBe(token);
    expect(a.legacy.verifyToken(token, key.deviceId)).toEqual({ valid: false });
    expect(a.legacy.verifyToken(fresh.deviceToken!, key.deviceId)).toMatchObject({ valid: true });
    expect(a.legacy.verifyToken(fresh.deviceToken!, '')).toEqual({ valid: false });
  });

  test('rotation: the device itself on a device-token connection gets the new token; anyone else does not; the old one is refused', async () => {
    const key = await paired(a, ['operator.read', 'operator.pairing']);
    const token = (await a.legacy.authorize(connect(key))).deviceToken!;
    const self: TokenManager = { deviceId: key.deviceId, scopes: ['operator.read', 'operator.pairing'], viaOwnDeviceToken: true, actor: key.deviceId };
    clock.advance(1000);
    const mine = await a.legacy.rotateToken({ deviceId: key.deviceId, role: 'operator', scopes: [], deliver: true, caller: self });
    expect(mine).toMatchObject({ deviceId: key.deviceId, role: 'operator', scopes: ['operator.read', 'operator.pairing'], rotatedAt: clock.now(), token: expect.any(String) });
    expect(await other.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: token }))).toMatchObject({ authFailure: 'device-token-mismatch' });
    expect(await other.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: mine.token }))).toMatchObject({ approved: true, deviceToken: mine.token, issuedAt: clock.now() });
    // An operator rotating it, or the device asking without having connected with its token: withheld.
    const byOperator = await other.legacy.rotateToken({ deviceId: key.deviceId, role: 'operator', scopes: ['operator.read'], deliver: true, caller: OPERATOR });
    expect(byOperator.token).toBeUndefined();
    expect(byOperator.scopes).toEqual(['operator.read']);
    expect((await a.legacy.rotateToken({ deviceId: key.deviceId, role: 'operator', scopes: [], deliver: true, caller: { ...self, viaOwnDeviceToken: false } })).token).toBeUndefined();
    expect(other.audits('legacy.token.rotate')).toEqual([expect.objectContaining({ deviceId: key.deviceId, delivered: false, allowed: true })]);
  });

  test('who may rotate or revoke what: the legacy gateway\'s denials', async () => {
    const key = await paired(a, ['operator.read', 'operator.pairing']);
    const victim = await paired(a, ['operator.read']);
    const device: TokenManager = { deviceId: key.deviceId, scopes: ['operator.read', 'operator.pairing'], viaOwnDeviceToken: true, actor: key.deviceId };
    const denied = async (fn: () => Promise<unknown>) => {
      const err = await caught(fn);
      return [err.code, err.reason, err.details.denial];
    };
    // A device (no admin) on its own token manages only itself.
    expect(await denied(() => a.legacy.rotateToken({ deviceId: victim.deviceId, role: 'operator', scopes: [], deliver: true, caller: device }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_ROTATION_DENIED', 'device-ownership-mismatch']);
    expect(await denied(() => a.legacy.revokeToken({ deviceId: victim.deviceId, role: 'operator', caller: device }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_REVOCATION_DENIED', 'device-ownership-mismatch']);
    // Other roles need admin; unknown devices or roles are refused alike.
    expect(await denied(() => a.legacy.rotateToken({ deviceId: key.deviceId, role: 'node', scopes: [], deliver: false, caller: device }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_ROTATION_DENIED', 'role-management-requires-admin']);
    expect(await denied(() => a.legacy.rotateToken({ deviceId: key.deviceId, role: 'node', scopes: [], deliver: false, caller: OPERATOR }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_ROTATION_DENIED', 'unknown-device-or-role']);
    expect(await denied(() => a.legacy.revokeToken({ deviceId: 'f'.repeat(64), role: 'operator', caller: OPERATOR }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_REVOCATION_DENIED', 'unknown-device-or-role']);
    // Not beyond the device's approval, not beyond what the caller holds.
    expect(await denied(() => a.legacy.rotateToken({ deviceId: victim.deviceId, role: 'operator', scopes: ['operator.admin'], deliver: false, caller: OPERATOR }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_ROTATION_DENIED', 'scope-outside-approved-baseline']);
    const reader: TokenManager = { deviceId: 'x', scopes: ['operator.pairing'], viaOwnDeviceToken: false, actor: 'x' };
    expect(await denied(() => a.legacy.rotateToken({ deviceId: victim.deviceId, role: 'operator', scopes: [], deliver: false, caller: reader }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_ROTATION_DENIED', 'caller-missing-scope']);
    expect(await denied(() => a.legacy.revokeToken({ deviceId: victim.deviceId, role: 'operator', caller: reader }))).toEqual(['FAILED_PRECONDITION', 'DEVICE_TOKEN_REVOCATION_DENIED', 'caller-missing-scope']);
    expect(a.audits('legacy.token.rotate').filter((l) => l.allowed === false).map((l) => l.reason)).toEqual([
      'device-ownership-mismatch',
      'role-management-requires-admin',
      'unknown-device-or-role',
      'scope-outside-approved-baseline',
      'caller-missing-scope',
    ]);
    // The victim was never touched.
    expect(a.registry.get(victim.deviceId)?.legacy?.tokens).toBeUndefined();
  });

  test('a token of an earlier release (rotated on every connect) is accepted once more, then replaced by a stable one', async () => {
    const key = await paired(a, ['operator.read']);
    const old = 'earlier-release-token-0123456789abcdefghijk';
    await a.registry.updateLegacy(key.deviceId, (d) => ({ result: undefined, record: { ...d!, legacy: { ...d!.legacy!, deviceTokenHash: createHash('sha256').update(old).digest('hex') } } }));
    const first = await other.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: old }));
    expect(first).toMatchObject({ approved: true, method: 'device-token' });
    expect(first.deviceToken).not.toBe(old);
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: old }))).toMatchObject({ authFailure: 'device-token-mismatch' });
    expect(await a.legacy.authorize(connect(key, { sharedSecretOk: false, deviceToken: first.deviceToken }))).toMatchObject({ approved: true, deviceToken: first.deviceToken });
  });
});

test('the token key comes from the CA key: another CA cannot reproduce a token', () => {
  const other = CertificateAuthority.create('legacy-test.local', clock.now());
  const mine = new LegacyDeviceTokens(ca.deriveSecret(LEGACY_TOKEN_KEY_PURPOSE));
  const theirs = new LegacyDeviceTokens(new CertificateAuthority(other.certPem, other.keyPem, 'legacy-test.local').deriveSecret(LEGACY_TOKEN_KEY_PURPOSE));
  const { record, token } = mine.mint('d'.repeat(64), 'operator', ['operator.read'], 1, undefined);
  expect(mine.reissue('d'.repeat(64), 'operator', record)).toBe(token);
  expect(theirs.reissue('d'.repeat(64), 'operator', record)).toBeUndefined();
  expect(ca.deriveSecret('another purpose').equals(ca.deriveSecret(LEGACY_TOKEN_KEY_PURPOSE))).toBe(false);
});
