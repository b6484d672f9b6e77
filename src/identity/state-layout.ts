import { join } from 'node:path';
import { homedir } from 'node:os';

/** Where the gateway keeps its state when nothing else is said. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OPENCLAW_STATE_DIR || join(homedir(), '.openclaw');
}

/** The files of a state directory, named in one place. */
export function statePaths(stateDir: string) {
  return {
    root: stateDir,
    caDir: join(stateDir, 'ca'),
    caCert: join(stateDir, 'ca', 'ca.pem'),
    caKey: join(stateDir, 'ca', 'ca-key.pem'),
    caMeta: join(stateDir, 'ca', 'ca.json'),
    serverDir: join(stateDir, 'server'),
    serverCert: join(stateDir, 'server', 'cert.pem'),
    serverKey: join(stateDir, 'server', 'key.pem'),
    serverMeta: join(stateDir, 'server', 'server.json'),
    /** Devices of releases before the storage contract (imported once into the store). */
    devices: join(stateDir, 'devices.json'),
    /** The files backend's journals (src/store). */
    storeDir: join(stateDir, 'store'),
    devicesJournal: join(stateDir, 'store', 'devices.journal'),
    tokens: join(stateDir, 'bootstrap-tokens.json'),
    config: join(stateDir, 'config.json'),
    cron: join(stateDir, 'cron.json'),
    sessionsDir: join(stateDir, 'sessions'),
    logFile: join(stateDir, 'logs', 'gateway.log'),
    /** Certificate folders the gateway provisions for local components (cli, worker, bridge). */
    identitiesDir: join(stateDir, 'identities'),
    identity: (name: string) => join(stateDir, 'identities', name),
  };
}
export type StatePaths = ReturnType<typeof statePaths>;
