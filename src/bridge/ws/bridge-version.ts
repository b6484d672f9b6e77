import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package version, announced in hello-ok when the gateway's own is not known yet. */
export const BRIDGE_VERSION: string = (() => {
  try {
    // dist/src/bridge/ws -> package root
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
