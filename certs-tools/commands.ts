import { Command, InvalidArgumentError, Option } from 'commander';
import { X509Certificate } from 'node:crypto';
import { existsSync, statSync, readFileSync } from 'node:fs';
import { ensureDir, writeFileAtomicSync } from '../src/store/atomic-file';
import { join } from 'node:path';
import pino from 'pino';
import { systemClock } from '../src/clock';
import { errors, GatewayError } from '../src/errors';
import { REDACT_PATHS } from '../src/logging';
import { openDevices } from '../src/store/device-store';
import { openStore } from '../src/store/open-store';
import { bindStoreToCa } from '../src/store/ca-binding';
import type { StoreBackend } from '../src/store/collection';
import {
  DeviceRegistry,
  defaultStateDir,
  ensureServerCert,
  serverCertFolder,
  loadCa,
  loadOrCreateCa,
  serverNames,
  statePaths,
  writeIssuedIdentity,
  assertWritableDir,
  certIdentity,
  normalizeSerial,
  parseRole,
  parseScopes,
  parseKeyType,
  keyTypeOf,
  verifyCsr,
  checkExistingKey,
  readCertificateOf,
  CERTS_DIR_FILES,
  DEFAULT_KEY_TYPE,
  KEY_TYPES,
  KEY_TYPE_NAMES,
  type KeyType,
  type StatePaths,
} from '../src/identity';
import { formatTable } from '../src/cli/format';
import { parseConfig } from '../src/services/config/config-schema';

interface GlobalOpts {
  stateDir?: string;
  json?: boolean;
  databaseUrl?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > 3650) throw new InvalidArgumentError('must be a whole number of days from 1 to 3650');
  return n;
}

function keyTypeArg(value: string): KeyType {
  try {
    return parseKeyType(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Reads and verifies a CSR file before anything is written; errors name the file. */
function readVerifiedCsr(file: string): { csrPem: string; keyType: KeyType; publicKeyPem: string } {
  let csrPem: string;
  try {
    csrPem = readFileSync(file, 'utf8');
  } catch {
    throw errors.notFound('FILE_NOT_FOUND', `cannot read ${file}`);
  }
  try {
    const v = verifyCsr(csrPem);
    return { csrPem, keyType: v.keyType, publicKeyPem: v.publicKeyPem };
  } catch (err) {
    if (err instanceof GatewayError) throw errors.invalid(err.reason, `${file}: ${err.message}`);
    throw err;
  }
}

function out(opts: GlobalOpts, human: string, json: unknown): void {
  process.stdout.write(opts.json ? JSON.stringify(json, null, 2) + '\n' : human.endsWith('\n') ? human : human + '\n');
}

/** Audit lines of certs-tools go to a log file in the state dir, never to the terminal. */
function auditLogger(paths: StatePaths) {
  const dir = join(paths.root, 'logs');
  ensureDir(dir);
  return pino(
    { base: { component: 'certs-tools' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: join(dir, 'audit.log'), sync: true, mkdir: true }),
  );
}

/** The certificate lifetimes of the gateway's runtime config (config.json), so both issue alike. */
function certPolicy(paths: StatePaths) {
  let raw: unknown = {};
  if (existsSync(paths.config)) {
    try {
      raw = JSON.parse(readFileSync(paths.config, 'utf8'));
    } catch {
      throw errors.precondition('STATE_CORRUPT', `${paths.config} is not valid JSON`);
    }
  }
  const { certs } = parseConfig(raw);
  return { clientLifetimeMs: certs.clientLifetimeDays * DAY_MS, renewAfterExpiryMs: certs.renewAfterExpiryDays * DAY_MS };
}

/** The registry over the gateway's device store (files in the state dir, or the database); close the store when done. */
async function openRegistry(o: GlobalOpts & { paths: StatePaths }, opts: { create: boolean }): Promise<{ registry: DeviceRegistry; store: StoreBackend }> {
  const ca = opts.create ? loadOrCreateCa(o.paths, systemClock).ca : loadCa(o.paths);
  if (!ca) throw errors.precondition('NO_CA', `no CA in ${o.paths.root}; run "certs-tools init" (or start the gateway) first`);
  const log = auditLogger(o.paths);
  const store = await openStore({ stateDir: o.paths.root, databaseUrl: o.databaseUrl, log });
  try {
    const devices = await openDevices(store, o.paths.devices);
    await bindStoreToCa(store, ca);
    return { registry: new DeviceRegistry({ store: devices, ca, clock: systemClock, log, policy: certPolicy(o.paths) }), store };
  } catch (err) {
    await store.close();
    throw err;
  }
}

function isoOrDash(ms?: number): string {
  return ms ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
}

/** Builds the certs-tools program (commander). */
export function buildCertsTools(): Command {
  const program = new Command('certs-tools')
    .description('Create the gateway CA and provision device certificates (mTLS identities)')
    .option('--state-dir <dir>', 'gateway state directory (env OPENCLAW_STATE_DIR, default ~/.openclaw)')
    .option('--json', 'machine-readable output')
    .option('--database-url <url>', 'the gateway keeps its state in PostgreSQL (env OPENCLAW_DATABASE_URL)')
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error:/, 'certs-tools: error:')) });
  program.exitOverride((err) => {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    throw err;
  });

  const g = (): GlobalOpts & { paths: StatePaths } => {
    const o = program.opts<GlobalOpts>();
    return { ...o, databaseUrl: o.databaseUrl ?? (process.env.OPENCLAW_DATABASE_URL || undefined), paths: statePaths(o.stateDir ?? defaultStateDir()) };
  };

  program
    .command('init')
    .description('create the CA and the server certificate (idempotent)')
    .option('--san <name>', 'extra DNS name or IP for the server certificate (repeatable)', collect, [])
    .action((cmd: { san: string[] }) => {
      const o = g();
      const { ca, created } = loadOrCreateCa(o.paths, systemClock);
      const names = serverNames(ca.trustDomain, cmd.san);
      const reissued = ensureServerCert(o.paths, ca, names, systemClock);
      out(
        o,
        [
          created ? `Created CA in ${o.paths.caDir}` : `CA already present in ${o.paths.caDir}`,
          `  trust domain:    ${ca.trustDomain}`,
          `  CA fingerprint:  SHA256:${ca.fingerprint}`,
          `  server cert:     ${o.paths.serverCert} (${reissued ? 'issued' : 'up to date'}; names: ${names.join(', ')})`,
        ].join('\n'),
        { created, trustDomain: ca.trustDomain, caFingerprint: ca.fingerprint, caCert: o.paths.caCert, serverCert: o.paths.serverCert, serverCertIssued: reissued, names },
      );
    });

  program
    .command('issue')
    .description('issue a certificate for a role into a folder (key.pem, cert.pem, ca.pem, identity.json) and register the device')
    .requiredOption('--role <role>', 'operator | node | backend | bridge')
    .requiredOption('--name <label>', 'device name; issuing the same name and role again rotates it')
    .requiredOption('--out <dir>', 'folder to write the identity into (mounted by the CLI or backend container)')
    .option('--scopes <list>', 'comma-separated scopes (default: the role\'s defaults)')
    .option('--days <n>', 'certificate lifetime in days', positiveInt)
    .option('--gateway <host:port>', 'gateway address to record in identity.json for the client')
    .addOption(new Option('--key-type <type>', `key to generate: ${KEY_TYPES.join(' | ')} (default ${DEFAULT_KEY_TYPE})`).argParser(keyTypeArg).conflicts('csr'))
    .option('--csr <file>', 'sign this PKCS#10 request instead of making a key: the key never leaves the device and no key.pem is written')
    .action(async (cmd: { role: string; name: string; out: string; scopes?: string; days?: number; gateway?: string; keyType?: KeyType; csr?: string }) => {
      const o = g();
      // Check the request before touching the disk: a typo or a bad CSR must not create a CA or a folder.
      parseRole(cmd.role);
      if (cmd.scopes) parseScopes(cmd.scopes.split(','));
      const csr = cmd.csr ? readVerifiedCsr(cmd.csr) : undefined;
      assertWritableDir(cmd.out);
      // A key.pem already there must be the CSR's own key; a stale one is refused, never deleted.
      const keptKey = csr ? checkExistingKey(cmd.out, csr.publicKeyPem) === 'matches' : false;
      const { registry, store } = await openRegistry(o, { create: true });
      const request = {
        role: cmd.role,
        label: cmd.name,
        scopes: cmd.scopes ? cmd.scopes.split(',') : undefined,
        lifetimeMs: cmd.days ? cmd.days * DAY_MS : undefined,
      };
      const issued = await (csr ? registry.provisionFromCsr({ ...request, csrPem: csr.csrPem }) : registry.provision({ ...request, keyType: cmd.keyType ?? DEFAULT_KEY_TYPE })).finally(() => store.close());
      const keyType = csr ? csr.keyType : (cmd.keyType ?? DEFAULT_KEY_TYPE);
      const d = issued.device;
      writeIssuedIdentity(cmd.out, issued, registry.ca, { gateway: cmd.gateway, issuedBy: 'certs-tools' });
      const files = [...(csr ? [] : [CERTS_DIR_FILES.key]), CERTS_DIR_FILES.cert, CERTS_DIR_FILES.ca, CERTS_DIR_FILES.meta];
      const keyNote = !csr ? 'key made here' : keptKey ? `from the CSR; the ${CERTS_DIR_FILES.key} already in the folder is its key` : 'from the CSR; the key stays on the device';
      out(
        o,
        [
          `Issued ${d.role} identity "${d.label}"`,
          `  device id:  ${d.id}`,
          `  key type:   ${keyType} (${KEY_TYPE_NAMES[keyType]}, ${keyNote})`,
          `  scopes:     ${d.scopes.join(', ') || '(none)'}`,
          `  expires:    ${isoOrDash(d.cert!.notAfter)}`,
          `  written to: ${cmd.out}/{${files.join(',')}}`,
        ].join('\n'),
        { deviceId: d.id, label: d.label, role: d.role, scopes: d.scopes, keyType, keySource: csr ? 'csr' : 'generated', serial: d.cert!.serial, notAfter: isoOrDash(d.cert!.notAfter), out: cmd.out, files },
      );
    });

  program
    .command('list')
    .description('list registered devices')
    .option('--all', 'include revoked devices')
    .action(async (cmd: { all?: boolean }) => {
      const o = g();
      const { registry, store } = await openRegistry(o, { create: false });
      const devices = registry.list({ includeRevoked: cmd.all });
      await store.close();
      out(
        o,
        devices.length === 0
          ? 'No devices registered.'
          : formatTable(
              ['DEVICE', 'NAME', 'ROLE', 'STATUS', 'SOURCE', 'EXPIRES', 'SCOPES'],
              devices.map((d) => [d.id.slice(0, 16), d.label, d.role, d.status, d.source, isoOrDash(d.cert?.notAfter), d.scopes.join(',')]),
            ),
        devices,
      );
    });

  program
    .command('inspect')
    .description('show what a certificate (PEM file) or identity folder holds')
    .argument('<path>', 'cert.pem or a folder written by "issue"')
    .action(async (path: string) => {
      const o = g();
      const isDir = existsSync(path) && statSync(path).isDirectory();
      let certPem: string;
      try {
        // A folder issued for a CSR has no key.pem: only its certificate is needed here.
        certPem = isDir ? readCertificateOf(path) : readFileSync(path, 'utf8');
      } catch (err) {
        if ((err as { reason?: string }).reason) throw err;
        throw errors.notFound('FILE_NOT_FOUND', `cannot read ${path}`);
      }
      let x: X509Certificate;
      try {
        x = new X509Certificate(certPem);
      } catch {
        throw errors.invalid('CERT_MALFORMED', `${path} is not a PEM certificate`);
      }
      let id: ReturnType<typeof certIdentity> | undefined;
      try {
        id = certIdentity(x.raw);
      } catch {
        id = undefined;
      }
      const ca = loadCa(o.paths);
      const verified = ca ? ca.issued(certPem) : undefined;
      let record: ReturnType<DeviceRegistry['get']>;
      if (id && ca) {
        const { registry, store } = await openRegistry(o, { create: false });
        record = registry.get(id.deviceId);
        await store.close();
      }
      const keyType = keyTypeOf(x.publicKey);
      const info = {
        subject: x.subject.replace(/\n/g, ', '),
        serial: x.serialNumber.toLowerCase(),
        notBefore: new Date(x.validFrom).toISOString(),
        notAfter: new Date(x.validTo).toISOString(),
        uriSan: x.subjectAltName,
        keyType: keyType ?? `unsupported (${x.publicKey.asymmetricKeyType})`,
        deviceId: id?.deviceId,
        role: id?.role,
        trustDomain: id?.trustDomain,
        signedByThisCa: verified,
        registry: record ? { status: record.status, label: record.label, scopes: record.scopes, currentSerial: record.cert !== undefined && normalizeSerial(record.cert.serial) === id?.serial } : undefined,
      };
      out(
        o,
        [
          `subject:      ${info.subject}`,
          `serial:       ${info.serial}`,
          `valid:        ${info.notBefore} .. ${info.notAfter}`,
          `SAN:          ${info.uriSan ?? '-'}`,
          `key type:     ${keyType ? `${keyType} (${KEY_TYPE_NAMES[keyType]})` : info.keyType}`,
          `device id:    ${info.deviceId ?? '(not an OpenClaw device certificate)'}`,
          `role:         ${info.role ?? '-'}`,
          `this CA:      ${verified === undefined ? '(no CA in state dir)' : verified ? 'yes' : 'NO (signed by another CA)'}`,
          `registry:     ${record ? `${record.status}, "${record.label}", scopes ${record.scopes.join(',') || '(none)'}${info.registry!.currentSerial ? '' : ', NOT the current serial'}` : 'not registered'}`,
        ].join('\n'),
        info,
      );
    });

  program
    .command('revoke')
    .description('revoke a device by id, id prefix or name; its certificate is refused at once')
    .argument('<device>', 'device id, unique id prefix (8+ chars) or name')
    .option('--reason <text>', 'why', 'revoked with certs-tools')
    .action(async (device: string, cmd: { reason: string }) => {
      const o = g();
      const { registry, store } = await openRegistry(o, { create: false });
      const d = await registry.revoke(device, cmd.reason, 'certs-tools').finally(() => store.close());
      out(o, `Revoked ${d.role} "${d.label}" (${d.id})`, { deviceId: d.id, label: d.label, status: d.status, reason: d.revokeReason });
    });

  program
    .command('ca-export')
    .description('write the CA certificate (the one file a phone, a browser or a Node client must trust for the gateway\'s TLS ports), with its fingerprint for pinning')
    .addOption(new Option('--format <format>', 'pem (Node clients, most tools) or der (phones, Windows)').choices(['pem', 'der']).default('pem'))
    .option('--out <file>', 'write it to this file (default: standard output; the fingerprint then goes to standard error)')
    .action((cmd: { format: 'pem' | 'der'; out?: string }) => {
      const o = g();
      const ca = loadCa(o.paths);
      if (!ca) throw errors.precondition('NO_CA', `no CA in ${o.paths.root}; run "certs-tools init" first`);
      const body = cmd.format === 'der' ? new X509Certificate(ca.certPem).raw : Buffer.from(ca.certPem);
      const fingerprint = `SHA256:${ca.fingerprint}`;
      if (!cmd.out) {
        if (o.json) return out(o, '', { format: cmd.format, caFingerprint: ca.fingerprint, trustDomain: ca.trustDomain, certificate: cmd.format === 'der' ? body.toString('base64') : ca.certPem });
        process.stdout.write(body);
        process.stderr.write(`CA certificate of trust domain ${ca.trustDomain}, fingerprint ${fingerprint}\n`);
        return;
      }
      writeFileAtomicSync(cmd.out, body, 0o644);
      out(
        o,
        [`Wrote the CA certificate (${cmd.format.toUpperCase()}) to ${cmd.out}`, `  trust domain:    ${ca.trustDomain}`, `  fingerprint:     ${fingerprint}`].join('\n'),
        { file: cmd.out, format: cmd.format, caFingerprint: ca.fingerprint, trustDomain: ca.trustDomain },
      );
    });

  program
    .command('issue-server')
    .description('keep a server certificate from this CA in a folder (cert.pem, key.pem, server.json), e.g. for a bridge process serving wss:// (--tls-cert/--tls-key); re-issued only when missing, from another CA, not covering a name, or with a third of its life left')
    .requiredOption('--out <dir>', 'folder to keep it in')
    .requiredOption('--name <name>', 'DNS name or IP address clients use to reach the server (repeatable)', collect, [])
    .action((cmd: { out: string; name: string[] }) => {
      const o = g();
      const ca = loadCa(o.paths);
      if (!ca) throw errors.precondition('NO_CA', `no CA in ${o.paths.root}; run "certs-tools init" first`);
      const paths = serverCertFolder(cmd.out);
      const names = [...new Set(cmd.name.map((n) => n.trim()).filter(Boolean))];
      const issued = ensureServerCert(paths, ca, names, systemClock);
      const meta = JSON.parse(readFileSync(paths.serverMeta, 'utf8')) as { names: string[]; notAfter: number };
      const validUntil = new Date(meta.notAfter).toISOString();
      out(
        o,
        [`${issued ? 'Issued' : 'Kept'} the server certificate in ${cmd.out} (${issued ? 'new' : 'current'})`, `  names:           ${meta.names.join(', ')}`, `  valid until:     ${validUntil}`, `  files:           cert.pem (with the CA), key.pem (0600)`].join('\n'),
        { dir: cmd.out, issued, names: meta.names, notAfter: validUntil, cert: paths.serverCert, key: paths.serverKey },
      );
    });

  program
    .command('ca-fingerprint')
    .description('print the CA fingerprint that devices pin when pairing')
    .action(() => {
      const o = g();
      const ca = loadCa(o.paths);
      if (!ca) throw errors.precondition('NO_CA', `no CA in ${o.paths.root}; run "certs-tools init" first`);
      out(o, `SHA256:${ca.fingerprint}`, { caFingerprint: ca.fingerprint, trustDomain: ca.trustDomain });
    });

  return program;
}
