/**
 * `renew`: renews the certificate in the certs dir now (same key), also shortly after it
 * expired. Every other command does this by itself when a third of the lifetime is left.
 *
 * --json shape: { deviceId, serial, notBefore, notAfter, afterExpiry, certs }
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../errors';
import { CERTS_DIR_FILES } from '../identity/certs-dir';
import type { CliContext } from './cli-context';
import { isoTime } from './output';
import { renewCertsDir } from './renewal';

/** `renew` */
export async function renew(ctx: CliContext): Promise<void> {
  const certs = ctx.certs();
  try {
    accessSync(certs.dir, constants.W_OK);
  } catch {
    throw errors.precondition('CERTS_READ_ONLY', `cannot write to ${certs.dir}; renew where the folder is writable (it is mounted read-only here?)`);
  }
  const outcome = await renewCertsDir(certs.dir, ctx.target(join(certs.dir, CERTS_DIR_FILES.ca)), { now: ctx.now(), onlyIfDue: false });
  if (outcome.kind !== 'renewed') throw errors.precondition('RENEW_IN_PROGRESS', `another openclaw-cli is renewing the certificate in ${certs.dir} right now; try again in a minute`);
  const r = outcome.result;
  ctx.out.result(
    () => ({ deviceId: r.deviceId, serial: r.serial, notBefore: isoTime(r.notBefore), notAfter: isoTime(r.notAfter), afterExpiry: r.afterExpiry, certs: certs.dir }),
    () => `Renewed the certificate of device ${r.deviceId}${r.afterExpiry ? ' (it had expired)' : ''}: serial ${r.serial}, valid until ${isoTime(r.notAfter)}; written to ${join(certs.dir, CERTS_DIR_FILES.cert)}`,
  );
}
