/**
 * The CA and server certificate on disk: created once with private permissions,
 * reloaded unchanged, server certificate re-issued only when names, CA or remaining
 * lifetime call for it; damaged CA files give STATE_CORRUPT.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { ErrorCode } from '../../src/errors';
import { loadCa, loadOrCreateCa } from '../../src/identity/ca-files';
import { ensureServerCert, SERVER_CERT_LIFETIME_MS, serverNames } from '../../src/identity/server-cert-files';
import { statePaths } from '../../src/identity/state-layout';
import { modeOf, useTmpDirs } from '../helpers/tmp';
import { thrown } from '../helpers/gateway-errors';

const DAY_MS = 24 * 60 * 60 * 1000;
const tmp = useTmpDirs('openclaw-cafiles-');

describe('loadOrCreateCa', () => {
  it('creates the CA once (key 0600, CA dir 0700) and loads the same CA afterwards', () => {
    const paths = statePaths(join(tmp(), 'state'));
    expect(loadCa(paths)).toBeUndefined();
    const first = loadOrCreateCa(paths, new ManualClock());
    expect(first.created).toBe(true);
    expect(first.ca.trustDomain).toMatch(/^openclaw-[0-9a-f]{10}\.local$/);
    expect(modeOf(paths.caKey)).toBe(0o600);
    expect(modeOf(paths.caDir)).toBe(0o700);
    const keyBefore = readFileSync(paths.caKey, 'utf8');
    const second = loadOrCreateCa(paths, new ManualClock());
    expect(second.created).toBe(false);
    expect(second.ca.fingerprint).toBe(first.ca.fingerprint);
    expect(second.ca.trustDomain).toBe(first.ca.trustDomain);
    expect(readFileSync(paths.caKey, 'utf8')).toBe(keyBefore);
    expect(JSON.parse(readFileSync(paths.caMeta, 'utf8'))).toMatchObject({ trustDomain: first.ca.trustDomain });
  });

  it('gives FAILED_PRECONDITION STATE_CORRUPT for a damaged CA and does not replace it', () => {
    const paths = statePaths(join(tmp(), 'state'));
    loadOrCreateCa(paths, new ManualClock());
    writeFileSync(paths.caKey, 'not a key');
    const err = thrown(() => loadOrCreateCa(paths, new ManualClock()));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.reason).toBe('STATE_CORRUPT');
    expect(readFileSync(paths.caKey, 'utf8')).toBe('not a key');
    writeFileSync(paths.caMeta, '{}');
    expect(thrown(() => loadCa(paths)).reason).toBe('STATE_CORRUPT');
  });

  it('recovers from a crash between writing the CA key and its metadata', () => {
    const paths = statePaths(join(tmp(), 'state'));
    loadOrCreateCa(paths, new ManualClock());
    rmSync(paths.caMeta);
    const again = loadOrCreateCa(paths, new ManualClock());
    expect(again.created).toBe(true);
  });

  it.each([
    ['a devices journal', (p: ReturnType<typeof statePaths>) => p.devicesJournal],
    ['a devices.json of an earlier release', (p: ReturnType<typeof statePaths>) => p.devices],
    ['an imported devices.json', (p: ReturnType<typeof statePaths>) => `${p.devices}.imported`],
  ])('never makes a new CA (orphaning every device) when ca.json is gone but %s shows devices exist', (_what, file) => {
    const paths = statePaths(join(tmp(), 'state'));
    const first = loadOrCreateCa(paths, new ManualClock());
    mkdirSync(paths.storeDir, { recursive: true });
    writeFileSync(file(paths), '');
    rmSync(paths.caMeta);
    expect(thrown(() => loadOrCreateCa(paths, new ManualClock())).reason).toBe('STATE_CORRUPT');
    expect(readFileSync(paths.caCert, 'utf8')).toBe(first.ca.certPem);
  });
});

describe('ensureServerCert', () => {
  it('issues once, then only when a name is missing, the CA changes or a third of the life is left', () => {
    const paths = statePaths(join(tmp(), 'state'));
    const t0 = Date.now();
    const clock = new ManualClock(t0);
    const { ca } = loadOrCreateCa(paths, clock);
    const names = serverNames(ca.trustDomain, ['gw.example.test']);
    expect(ensureServerCert(paths, ca, names, clock)).toBe(true);
    expect(modeOf(paths.serverKey)).toBe(0o600);
    const first = readFileSync(paths.serverCert, 'utf8');
    const leaf = new X509Certificate(first);
    expect(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)).toBe(SERVER_CERT_LIFETIME_MS + 5 * 60 * 1000);
    // The file carries the chain: leaf, then the CA.
    expect(first.endsWith(ca.certPem)).toBe(true);

    expect(ensureServerCert(paths, ca, [...names].reverse(), clock)).toBe(false);
    expect(readFileSync(paths.serverCert, 'utf8')).toBe(first);

    clock.set(t0 + 59 * DAY_MS);
    expect(ensureServerCert(paths, ca, names, clock)).toBe(false);
    clock.set(t0 + 61 * DAY_MS);
    expect(ensureServerCert(paths, ca, names, clock)).toBe(true);
    expect(readFileSync(paths.serverCert, 'utf8')).not.toBe(first);

    // A start that asks for fewer names (e.g. without the --san given to init) keeps the certificate and its names...
    const fewer = serverNames(ca.trustDomain);
    const renewed = readFileSync(paths.serverCert, 'utf8');
    expect(ensureServerCert(paths, ca, fewer, clock)).toBe(false);
    expect(readFileSync(paths.serverCert, 'utf8')).toBe(renewed);
    // ...and so does the next renewal; a new name is added to the ones there.
    clock.set(t0 + 122 * DAY_MS);
    expect(ensureServerCert(paths, ca, [...fewer, 'replica-2.example.test'], clock)).toBe(true);
    const leaf2 = new X509Certificate(readFileSync(paths.serverCert, 'utf8'));
    expect(leaf2.checkHost('gw.example.test')).toBe('gw.example.test');
    expect(leaf2.checkHost('replica-2.example.test')).toBe('replica-2.example.test');
    expect(ensureServerCert(paths, ca, names, clock)).toBe(false);

    // A new CA (state restored from elsewhere) makes the old server cert useless.
    const otherPaths = statePaths(join(tmp(), 'other'));
    const other = loadOrCreateCa(otherPaths, clock).ca;
    expect(ensureServerCert(paths, other, fewer, clock)).toBe(true);
    expect(other.issued(readFileSync(paths.serverCert, 'utf8'))).toBe(true);
    // The old CA's names are not carried over to the new CA's certificate.
    expect(new X509Certificate(readFileSync(paths.serverCert, 'utf8')).checkHost('gw.example.test')).toBeUndefined();
  });

  it('re-issues when the server files are missing or unreadable', () => {
    const paths = statePaths(join(tmp(), 'state'));
    const clock = new ManualClock();
    const { ca } = loadOrCreateCa(paths, clock);
    const names = serverNames(ca.trustDomain);
    expect(ensureServerCert(paths, ca, names, clock)).toBe(true);
    writeFileSync(paths.serverCert, 'garbage');
    expect(ensureServerCert(paths, ca, names, clock)).toBe(true);
    rmSync(paths.serverKey);
    expect(ensureServerCert(paths, ca, names, clock)).toBe(true);
    expect(existsSync(paths.serverKey)).toBe(true);
  });
});
