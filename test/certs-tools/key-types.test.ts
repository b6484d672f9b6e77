/**
 * certs-tools and key types, as a user runs it: `issue --key-type` for every type,
 * `issue --csr` for a key made by openssl that never leaves its folder (no key.pem
 * written; a stale key.pem refused), `inspect` showing the key type, and bad CSRs or
 * conflicting options refused with one line, a non-zero exit and nothing written.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_TYPES, keyTypeOf, type KeyType } from '../../src/identity/keys';
import { openssl, opensslOk } from '../helpers/openssl';
import { linesOf, runCertsTools, type RunResult } from '../helpers/run-cli';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-certs-keytypes-');
let work: string;
let stateDir: string;

interface Issued {
  deviceId: string;
  label: string;
  keyType: KeyType;
  keySource: 'generated' | 'csr';
  files: string[];
  out: string;
}

async function ok(...args: string[]): Promise<string> {
  const r = await runCertsTools(['--state-dir', stateDir, ...args]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return r.stdout;
}

async function okJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await ok('--json', ...args)) as T;
}

/** Runs a command that must fail: non-zero exit, nothing on stdout, state dir and `outDir` untouched; returns the one error message. */
async function failsWithOneLine(args: string[], outDir: string): Promise<{ r: RunResult; message: string }> {
  const snap = (d: string) => (existsSync(d) ? snapshotTree(d, (rel) => rel === 'logs' || rel.startsWith('logs/')) : undefined);
  const before = [snap(stateDir), snap(outDir)];
  const r = await runCertsTools(['--state-dir', stateDir, ...args]);
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).toBe('');
  expect([snap(stateDir), snap(outDir)]).toEqual(before);
  const lines = linesOf(r.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^certs-tools: error: \S/);
  expect(lines[0]).not.toContain('unexpected failure');
  return { r, message: lines[0].slice('certs-tools: error: '.length) };
}

function spkiSha256(key: string): string {
  return createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' })).digest('hex');
}

/** `openssl req` makes a key and a CSR in `dir` (key.pem, req.csr); returns their paths. */
function opensslCsr(dir: string, keyArgs: string[], cn = 'made-by-openssl'): { key: string; csr: string } {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'key.pem');
  const csr = join(dir, 'req.csr');
  opensslOk(['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-subj', `/CN=${cn}`, '-out', csr]);
  return { key, csr };
}

function verifiesUnderCa(folder: string): boolean {
  const v = openssl(['verify', '-CAfile', join(folder, 'ca.pem'), '-purpose', 'sslclient', join(folder, 'cert.pem')]);
  return v.status === 0 && v.stdout.includes(': OK');
}

beforeAll(async () => {
  work = tmp();
  stateDir = join(work, 'state');
  expect((await runCertsTools(['--state-dir', stateDir, 'init'])).code).toBe(0);
});

describe('issue --key-type', () => {
  it.each(KEY_TYPES.map((t) => [t]))('%s: key.pem and certificate of that type, verified by openssl, shown by inspect', async (type) => {
    const out = join(work, `kt-${type}`);
    const issued = await okJson<Issued>('issue', '--role', 'node', '--name', `kt-${type}`, '--out', out, '--key-type', type);
    expect(issued).toMatchObject({ keyType: type, keySource: 'generated', files: ['key.pem', 'cert.pem', 'ca.pem', 'identity.json'] });
    const key = readFileSync(join(out, 'key.pem'), 'utf8');
    const cert = new X509Certificate(readFileSync(join(out, 'cert.pem'), 'utf8'));
    expect(keyTypeOf(createPrivateKey(key))).toBe(type);
    expect(keyTypeOf(cert.publicKey)).toBe(type);
    expect(cert.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(spkiSha256(key)).toBe(issued.deviceId);
    expect(verifiesUnderCa(out)).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'identity.json'), 'utf8')).keyType).toBe(type);
    expect(await okJson('inspect', out)).toMatchObject({ keyType: type, deviceId: issued.deviceId, signedByThisCa: true });
  });

  it('defaults to P-256, and says so in the human output', async () => {
    const out = join(work, 'default-type');
    const human = await ok('issue', '--role', 'operator', '--name', 'default-type', '--out', out);
    expect(human).toMatch(/^ {2}key type: {3}p256 \(ECDSA P-256, key made here\)$/m);
    expect(human).toContain(`written to: ${out}/{key.pem,cert.pem,ca.pem,identity.json}`);
    expect(keyTypeOf(createPrivateKey(readFileSync(join(out, 'key.pem'), 'utf8')))).toBe('p256');
    expect(await ok('inspect', out)).toMatch(/^key type: {5}p256 \(ECDSA P-256\)$/m);
  });
});

describe('issue --csr', () => {
  it.each<[string, string[], KeyType]>([
    ['P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'p256'],
    ['Ed25519', ['-newkey', 'ed25519'], 'ed25519'],
  ])('signs an openssl-made %s CSR: no key.pem in --out, the cert verifies and fits the key, the device is listed', async (_name, keyArgs, type) => {
    const device = opensslCsr(join(work, `device-${type}`), keyArgs);
    const out = join(work, `csr-out-${type}`);
    const issued = await okJson<Issued>('issue', '--role', 'node', '--name', `csr-${type}`, '--out', out, '--csr', device.csr);
    expect(issued).toMatchObject({ keyType: type, keySource: 'csr', files: ['cert.pem', 'ca.pem', 'identity.json'] });
    expect(readdirSync(out).sort()).toEqual(['ca.pem', 'cert.pem', 'identity.json']);
    const cert = new X509Certificate(readFileSync(join(out, 'cert.pem'), 'utf8'));
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(device.key, 'utf8')))).toBe(true);
    expect(issued.deviceId).toBe(spkiSha256(readFileSync(device.key, 'utf8')));
    expect(cert.subject).toBe(`CN=csr-${type}`);
    expect(verifiesUnderCa(out)).toBe(true);
    const listed = await okJson<{ id: string; label: string; status: string; source: string }[]>('list');
    expect(listed.find((d) => d.id === issued.deviceId)).toMatchObject({ label: `csr-${type}`, status: 'active', source: 'provisioned' });
    expect(await okJson('inspect', out)).toMatchObject({ keyType: type, registry: { status: 'active', currentSerial: true } });
  });

  it('says in the human output that the key stays on the device and lists only the files written', async () => {
    const device = opensslCsr(join(work, 'device-human'), ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const out = join(work, 'csr-human');
    const human = await ok('issue', '--role', 'backend', '--name', 'csr-human', '--out', out, '--csr', device.csr);
    expect(human).toMatch(/^ {2}key type: {3}p384 \(ECDSA P-384, from the CSR; the key stays on the device\)$/m);
    expect(human).toContain(`written to: ${out}/{cert.pem,ca.pem,identity.json}`);
  });

  it('keeps a key.pem already in --out when it is the CSR\'s own key (the device made its key there)', async () => {
    const folder = join(work, 'in-place');
    const device = opensslCsr(folder, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const keyBefore = readFileSync(device.key, 'utf8');
    const issued = await okJson<Issued>('issue', '--role', 'node', '--name', 'in-place', '--out', folder, '--csr', device.csr);
    expect(issued.keySource).toBe('csr');
    expect(readFileSync(device.key, 'utf8')).toBe(keyBefore);
    expect(new X509Certificate(readFileSync(join(folder, 'cert.pem'), 'utf8')).checkPrivateKey(createPrivateKey(keyBefore))).toBe(true);
  });

  it('refuses (and writes nothing) when --out holds a stale key.pem of another key', async () => {
    const out = join(work, 'stale');
    await ok('issue', '--role', 'node', '--name', 'stale', '--out', out);
    const device = opensslCsr(join(work, 'device-stale'), ['-newkey', 'ed25519']);
    const { message } = await failsWithOneLine(['issue', '--role', 'node', '--name', 'stale', '--out', out, '--csr', device.csr], out);
    expect(message).toBe(`${join(out, 'key.pem')} is not the new certificate's key (another key, or unreadable); move it away or write to another folder: a certificate is never paired with a key that is not its own`);
    // The earlier identity is still the active one.
    expect((await okJson<{ label: string; status: string }[]>('list')).filter((d) => d.label === 'stale').map((d) => d.status)).toEqual(['active']);
  });
});

describe('issue --csr with bad input', () => {
  /** Writes `text` to a .csr file in the work folder; returns its path. */
  const csrFile = (name: string, text: string) => {
    const file = join(work, `${name}.csr`);
    writeFileSync(file, text);
    return file;
  };

  // Each case returns the path of the CSR file to pass.
  it.each<[string, () => string, RegExp]>([
    ['garbage', () => csrFile('garbage', 'not a CSR\n'), /: CSR is not a PEM "CERTIFICATE REQUEST" block$/],
    ['a P-521 key', () => opensslCsr(join(work, 'bad-p521'), ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']).csr, /: CSR key is EC \(secp521r1\): supported are /],
    ['an RSA-1024 key', () => opensslCsr(join(work, 'bad-rsa1024'), ['-newkey', 'rsa:1024']).csr, /: CSR key is RSA-1024: RSA keys must be 2048 to 8192 bits$/],
    [
      'a tampered signature',
      () => {
        const good = readFileSync(opensslCsr(join(work, 'bad-sig'), ['-newkey', 'ed25519']).csr, 'utf8');
        const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
        der[der.length - 1] ^= 0x01;
        return csrFile('tampered', `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
      },
      /: CSR signature does not verify \(no proof of possession of the private key\)$/,
    ],
  ])('%s: one error line naming the file, non-zero exit, nothing written', async (name, make, message) => {
    const file = make();
    const out = join(work, `never-${name.replace(/\W+/g, '-')}`);
    const { r, message: msg } = await failsWithOneLine(['issue', '--role', 'node', '--name', 'bad', '--out', out, '--csr', file], out);
    expect(r.code).toBe(1);
    expect(msg.startsWith(`${file}: `)).toBe(true);
    expect(msg).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('a CSR file that does not exist', async () => {
    const out = join(work, 'never-missing');
    const missing = join(work, 'no-such.csr');
    expect((await failsWithOneLine(['issue', '--role', 'node', '--name', 'x', '--out', out, '--csr', missing], out)).message).toBe(`cannot read ${missing}`);
  });

  it('--csr with --key-type is a usage error (exit 2)', async () => {
    const device = opensslCsr(join(work, 'device-conflict'), ['-newkey', 'ed25519']);
    const out = join(work, 'never-conflict');
    const { r, message } = await failsWithOneLine(['issue', '--role', 'node', '--name', 'x', '--out', out, '--csr', device.csr, '--key-type', 'ed25519'], out);
    expect(r.code).toBe(2);
    expect(message).toBe("option '--key-type <type>' cannot be used with option '--csr <file>'");
  });

  it('an unknown --key-type is a usage error naming the choices (exit 2)', async () => {
    const out = join(work, 'never-dsa');
    const { r, message } = await failsWithOneLine(['issue', '--role', 'node', '--name', 'x', '--out', out, '--key-type', 'dsa'], out);
    expect(r.code).toBe(2);
    expect(message).toBe(`option '--key-type <type>' argument 'dsa' is invalid. unknown key type "dsa" (allowed: rsa, p256, p384, ed25519)`);
  });
});

it('an identity folder can be copied and inspected without its key', async () => {
  const src = join(work, 'kt-ed25519');
  const copy = join(work, 'inspect-copy');
  mkdirSync(copy);
  for (const f of ['cert.pem', 'ca.pem', 'identity.json']) copyFileSync(join(src, f), join(copy, f));
  expect(await okJson('inspect', copy)).toMatchObject({ keyType: 'ed25519', signedByThisCa: true });
});
