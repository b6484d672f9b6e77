/**
 * Connection settings: flags, then environment, then <stateDir>/cli.json, then the
 * certs dir's identity.json (gateway only), then defaults; and `openclaw-cli config`
 * showing each value with its source. No gateway needed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSettings, splitAddress, describeSource, type SettingsInput } from '../../src/cli/settings';
import { explainError } from '../../src/cli/cli-error';
import { errors, GatewayError, ErrorCode } from '../../src/errors';
import { useTmpDirs } from '../helpers/tmp';
import { CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-settings-');

function input(over: Partial<SettingsInput> & { home: string }): SettingsInput {
  return { flags: {}, env: {}, homeDir: over.home, cwd: over.home, ...over };
}

describe('resolveSettings', () => {
  test('defaults: ~/.openclaw, its local operator identity, 127.0.0.1:18790', () => {
    const home = tmp();
    const s = resolveSettings(input({ home }));
    expect(s.stateDir).toEqual({ value: join(home, '.openclaw'), source: { kind: 'default' } });
    expect(s.certs).toEqual({ value: join(home, '.openclaw', 'identities', 'cli'), source: { kind: 'default' } });
    expect(s.gateway).toEqual({ value: '127.0.0.1:18790', source: { kind: 'default' } });
    expect(s.configFileFound).toBe(false);
  });

  test('each layer wins over the ones after it', () => {
    const home = tmp();
    const state = join(home, 'state');
    const certsFromFile = join(state, 'my-certs');
    mkdirSync(certsFromFile, { recursive: true });
    writeFileSync(join(state, 'cli.json'), JSON.stringify({ gateway: 'file-gw:1', certs: 'my-certs' }));
    writeFileSync(join(certsFromFile, 'identity.json'), JSON.stringify({ gateway: 'identity-gw:2' }));

    const fromFile = resolveSettings(input({ home, env: { OPENCLAW_STATE_DIR: state } }));
    expect(fromFile.stateDir.source).toEqual({ kind: 'env', name: 'OPENCLAW_STATE_DIR' });
    expect(fromFile.gateway).toEqual({ value: 'file-gw:1', source: { kind: 'file', path: join(state, 'cli.json') } });
    // Relative paths in cli.json are relative to the state dir.
    expect(fromFile.certs).toEqual({ value: certsFromFile, source: { kind: 'file', path: join(state, 'cli.json') } });

    writeFileSync(join(state, 'cli.json'), JSON.stringify({ certs: 'my-certs' }));
    const fromIdentity = resolveSettings(input({ home, env: { OPENCLAW_STATE_DIR: state } }));
    expect(fromIdentity.gateway).toEqual({ value: 'identity-gw:2', source: { kind: 'file', path: join(certsFromFile, 'identity.json') } });

    const fromEnv = resolveSettings(input({ home, env: { OPENCLAW_STATE_DIR: state, OPENCLAW_GATEWAY_GRPC: 'env-gw:3', OPENCLAW_CERTS_DIR: '/env/certs' } }));
    expect(fromEnv.gateway).toEqual({ value: 'env-gw:3', source: { kind: 'env', name: 'OPENCLAW_GATEWAY_GRPC' } });
    expect(fromEnv.certs).toEqual({ value: '/env/certs', source: { kind: 'env', name: 'OPENCLAW_CERTS_DIR' } });

    const fromFlags = resolveSettings(
      input({ home, flags: { gateway: 'flag-gw:4', certs: 'rel/certs', stateDir: '/flag/state' }, env: { OPENCLAW_STATE_DIR: state, OPENCLAW_GATEWAY_GRPC: 'env-gw:3', OPENCLAW_CERTS_DIR: '/env/certs' } }),
    );
    expect(fromFlags.gateway.source).toEqual({ kind: 'flag', name: '--gateway' });
    expect(fromFlags.certs).toEqual({ value: join(home, 'rel', 'certs'), source: { kind: 'flag', name: '--certs' } });
    expect(fromFlags.stateDir).toEqual({ value: '/flag/state', source: { kind: 'flag', name: '--state-dir' } });
  });

  test('a broken cli.json is an error naming the file; a broken identity.json is ignored', () => {
    const home = tmp();
    const state = join(home, '.openclaw');
    mkdirSync(join(state, 'identities', 'cli'), { recursive: true });
    writeFileSync(join(state, 'identities', 'cli', 'identity.json'), '{oops');
    expect(resolveSettings(input({ home })).gateway.source).toEqual({ kind: 'default' });
    writeFileSync(join(state, 'cli.json'), '[1]');
    expect(() => resolveSettings(input({ home }))).toThrow(`${join(state, 'cli.json')} must hold a JSON object`);
    writeFileSync(join(state, 'cli.json'), '{"gateway": 5}');
    expect(() => resolveSettings(input({ home }))).toThrow('"gateway" in');
  });

  test('addresses: host, host:port, [v6]:port; bad ones refused', () => {
    expect(splitAddress('gw')).toEqual({ host: 'gw', port: 18790, address: 'gw:18790' });
    expect(splitAddress('10.0.0.2:9000')).toEqual({ host: '10.0.0.2', port: 9000, address: '10.0.0.2:9000' });
    expect(splitAddress('[::1]:9000')).toEqual({ host: '::1', port: 9000, address: '[::1]:9000' });
    for (const bad of ['gw:0', 'gw:70000', 'a:b:c', '']) expect(() => splitAddress(bad)).toThrow('is not HOST:PORT');
    expect(describeSource({ kind: 'env', name: 'X' })).toBe('env X');
  });
});

describe('explainError', () => {
  test('exit codes follow the error code; unknown errors are "unexpected"', () => {
    expect(explainError(errors.unavailable('GATEWAY_UNREACHABLE', 'down')).exitCode).toBe(3);
    expect(explainError(errors.invalid('X', 'bad')).exitCode).toBe(2);
    expect(explainError(errors.notFound('X', 'gone')).exitCode).toBe(6);
    expect(explainError(new GatewayError(ErrorCode.Internal, 'X', 'multi\nline')).message).toBe('multi line');
    expect(explainError(new Error('boom'))).toEqual({ message: 'unexpected failure: boom', exitCode: 1 });
  });

  test('certificate refusals name the folder and device and add a hint when the server gave none', () => {
    const e = new GatewayError(ErrorCode.Unauthenticated, 'CERT_SUPERSEDED', 'certificate serial 1 is no longer current', { details: { deviceId: 'dev1' } });
    const { message, exitCode } = explainError(e, { certs: { dir: '/c', keyPem: '', certPem: '', caPem: '' } });
    expect(exitCode).toBe(4);
    expect(message).toBe('the gateway refused the client certificate in /c (device dev1, CERT_SUPERSEDED): certificate serial 1 is no longer current; a newer certificate exists for this device; copy the newest folder or renew from the folder that holds it');
  });
});

test('openclaw-cli config shows each setting with its source', async () => {
  const home = tmp();
  const state = join(home, 'state');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'cli.json'), JSON.stringify({ certs: '/from/file' }));
  const cli = new CliRunner({ home, env: { OPENCLAW_STATE_DIR: state, OPENCLAW_GATEWAY_GRPC: 'gw.example:7000' } });
  const json = await cli.json('config');
  expect(json).toMatchObject({
    stateDir: { value: state, source: 'env OPENCLAW_STATE_DIR' },
    gateway: { value: 'gw.example:7000', source: 'env OPENCLAW_GATEWAY_GRPC' },
    certs: { value: '/from/file', source: `file ${join(state, 'cli.json')}` },
    configFile: { path: join(state, 'cli.json'), found: true },
    identity: { found: false, problem: 'CERTS_NOT_FOUND' },
  });
  const human = await cli.ok('--gateway', 'flag.example:1', 'config');
  expect(human).toMatch(/^SETTING +VALUE +SOURCE\n/);
  expect(human).toMatch(/gateway +flag\.example:1 +flag --gateway/);
  expect(human).toMatch(new RegExp(`certs +/from/file +file ${join(state, 'cli.json')}`));
  expect(human).toContain('identity: none in /from/file');
});
