/**
 * `config`: the CLI's connection settings, what each resolved to and where it came
 * from, plus what the certificate folder holds. Makes no network call.
 *
 * --json shape:
 *   { stateDir: { value, source }, gateway: { value, source }, certs: { value, source },
 *     configFile: { path, found },
 *     identity: { found, deviceId?, label?, role?, scopes?, notAfter?, renewalDue?, caFingerprint? } }
 *   where source is "flag --x" | "env NAME" | "file PATH" | "default".
 */
import { certificateFingerprint, deviceIdFromCertificate } from '../identity/device-id';
import { GatewayError } from '../errors';
import type { CliContext } from './cli-context';
import { describeSource, type Setting } from './settings';
import { isoTime } from './output';
import { certValidity, renewalDue } from '../identity/renewal-policy';

function setting(s: Setting): { value: string; source: string } {
  return { value: s.value, source: describeSource(s.source) };
}

/** `config` */
export function showConfig(ctx: CliContext): void {
  const s = ctx.settings;
  let identity: Record<string, unknown>;
  try {
    const certs = ctx.certs();
    const v = certValidity(certs.certPem);
    identity = {
      found: true,
      deviceId: deviceIdFromCertificate(certs.certPem),
      label: certs.meta?.label,
      role: certs.meta?.role,
      scopes: certs.meta?.scopes,
      notAfter: isoTime(v.notAfter),
      renewalDue: renewalDue(v, ctx.now()),
      caFingerprint: certificateFingerprint(certs.caPem),
    };
  } catch (err) {
    identity = { found: false, problem: err instanceof GatewayError ? err.reason : 'UNREADABLE' };
  }
  const json = {
    stateDir: setting(s.stateDir),
    gateway: setting(s.gateway),
    certs: setting(s.certs),
    configFile: { path: s.configFile, found: s.configFileFound },
    identity,
  };
  ctx.out.result(
    () => json,
    () =>
      [
        ctx.out.table(
          ['SETTING', 'VALUE', 'SOURCE'],
          [
            ['gateway', s.gateway.value, describeSource(s.gateway.source)],
            ['certs', s.certs.value, describeSource(s.certs.source)],
            ['state dir', s.stateDir.value, describeSource(s.stateDir.source)],
            ['config file', s.configFile, s.configFileFound ? 'found' : 'not present (optional)'],
          ],
          '',
        ),
        '',
        identity.found
          ? ctx.out.fields([
              ['identity', `${identity.label ?? '?'} (${identity.role ?? '?'}), device ${identity.deviceId as string}`],
              ['scopes', (identity.scopes as string[] | undefined)?.join(', ') || '(unknown)'],
              ['expires', `${identity.notAfter as string}${identity.renewalDue ? ' (renewal due: the next command renews it)' : ''}`],
              ['gateway CA', `SHA256:${identity.caFingerprint as string}`],
            ])
          : `identity: none in ${s.certs.value} (${identity.problem as string}); provision one with "certs-tools issue --role operator --name <name> --out ${s.certs.value}" or "openclaw-cli pair"`,
        '',
        'Order: flags (--gateway, --certs, --state-dir), env (OPENCLAW_GATEWAY_GRPC, OPENCLAW_CERTS_DIR, OPENCLAW_STATE_DIR),',
        `${s.configFile} {"gateway","certs"}, identity.json "gateway" in the certs dir, defaults.`,
      ].join('\n'),
  );
}
