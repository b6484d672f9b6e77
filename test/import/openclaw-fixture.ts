/**
 * The fixture of a real OpenClaw 2026.9.6 install (test/fixtures/openclaw-2026.9.6, made by
 * scripts/make-openclaw-fixture.mjs): a fresh copy of its state folder per test, and the
 * throw-away credentials the script recorded (shared token, device keys and tokens).
 */
import { cpSync, readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import type { LegacyDevice } from '../bridge/legacy-client';

export const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'openclaw-2026.9.6');

export interface FixtureDevice {
  displayName: string;
  deviceId: string;
  publicKey: string;
  privateKeyPem: string;
  role: string;
  scopes: string[];
  deviceToken: string;
  client: { id: string; mode: string; platform: string; deviceFamily?: string };
}

export interface FixtureClient {
  sharedToken: string;
  devices: FixtureDevice[];
}

export const fixtureClient = (): FixtureClient => JSON.parse(readFileSync(join(FIXTURE, 'client.json'), 'utf8')) as FixtureClient;

/**
 * A copy of the fixture's `~/.openclaw` in `dir`; returns its path. `running`: the copy the
 * script took while the gateway ran (most of the state only in the WAL).
 */
export function copyOpenclawState(dir: string, which: 'stopped' | 'running' = 'stopped'): string {
  const to = join(dir, 'openclaw-home');
  cpSync(join(FIXTURE, which === 'running' ? 'home-running' : 'home', '.openclaw'), to, { recursive: true });
  return to;
}

/** A recorded device as the test client's identity. */
export function deviceOf(d: FixtureDevice): LegacyDevice {
  return { id: d.deviceId, publicKey: d.publicKey, privateKey: createPrivateKey(d.privateKeyPem) };
}
