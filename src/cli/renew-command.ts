/**
 * `renew`: renews the certificate in the certs dir now (same key), also shortly after it
 * expired. Every other command does this by itself when a third of the lifetime is left.
 *
 * --json shape: { deviceId, serial, notBefore, notAfter, afterExpiry, certs }
 */
import { join } from 'node:path';
import { errors } from '../errors';
import { CERTS_DIR_FILES } from '../identity/certs-dir';
import type { CliContext } from './cli-context';
import { isoTime } from './output';

/** `renew` */
export async function renew(ctx: CliContext): Promise<void> {
  const folder = await ctx.folderClient();
  const outcome = await folder.renew({ onlyIfDue: false });
  if (outcome.kind !== 'renewed') throw errors.internal('RENEW_SKIPPED', 'the certificate was not renewed');
  const r = outcome.renewal;
  ctx.out.result(
    () => ({ deviceId: r.deviceId, serial: r.serial, notBefore: isoTime(r.notBefore), notAfter: isoTime(r.notAfter), afterExpiry: r.afterExpiry, certs: folder.dir }),
    () => `Renewed the certificate of device ${r.deviceId}${r.afterExpiry ? ' (it had expired)' : ''}: serial ${r.serial}, valid until ${isoTime(r.notAfter)}; written to ${join(folder.dir, CERTS_DIR_FILES.cert)}`,
  );
}
