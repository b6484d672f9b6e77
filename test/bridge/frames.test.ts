import { parseConnectParams, parseRequestFrame, rawEventFrame } from '../../src/bridge/ws/frames';
import { verifyDeviceProof } from '../../src/bridge/ws/device-proof';
import { mergePatchBetween } from '../../src/bridge/ws/methods/config';
import { connectParams, newLegacyDevice, signDevice } from './legacy-client';

// Problems are worded as the real gateway words them (ajv style; its answers in the handshake notes).
test('request frames have a closed schema', () => {
  expect(parseRequestFrame('{"type":"req","id":"1","method":"health"}')).toEqual({ ok: true, frame: { type: 'req', id: '1', method: 'health' } });
  expect(parseRequestFrame('{"type":"req","id":"1","method":"health","params":null}').ok).toBe(true);
  expect(parseRequestFrame('{"type":"req","id":"1","method":"health","x":1}')).toEqual({ ok: false, id: '1', problem: "at root: unexpected property 'x'" });
  expect(parseRequestFrame('{"type":"res","id":"1","method":"health"}')).toMatchObject({ ok: false, problem: 'at /type: must be equal to one of the allowed values' });
  expect(parseRequestFrame('{"type":"req","id":"","method":"health"}')).toMatchObject({ ok: false, id: undefined });
  expect(parseRequestFrame('null')).toMatchObject({ ok: false, problem: 'must be object' });
  expect(parseRequestFrame('{"__proto__":{"x":1},"type":"req","id":"1","method":"m"}')).toMatchObject({ ok: false, problem: "at root: unexpected property '__proto__'" });
});

test('connect params: closed at every level, typed', () => {
  expect(parseConnectParams(connectParams({ auth: { token: 't' }, caps: [], commands: [], permissions: { a: true }, locale: 'de' })).ok).toBe(true);
  expect(parseConnectParams(connectParams({ auth: { token: 't', extra: 'x' } }))).toEqual({ ok: false, problem: "at /auth: unexpected property 'extra'" });
  expect(parseConnectParams(connectParams({ role: 'root' }))).toMatchObject({ ok: false, problem: 'at /role: must be equal to one of the allowed values' });
  expect(parseConnectParams(connectParams({ minProtocol: 4.5 }))).toMatchObject({ ok: false, problem: 'at /minProtocol: must be integer' });
  expect(parseConnectParams(connectParams({ scopes: ['a', 1] }))).toMatchObject({ ok: false, problem: 'at /scopes/1: must be string' });
  expect(parseConnectParams(connectParams({ device: { id: 'x' } }))).toMatchObject({ ok: false, problem: "at /device: must have required property 'publicKey'" });
});

test('gateway event payloads are spliced into frames as they are', () => {
  const payload = '{"runId":"r","data":{"delta":"\\u00e9"}}';
  expect(JSON.parse(rawEventFrame('agent', payload, 7))).toEqual({ type: 'event', event: 'agent', payload: { runId: 'r', data: { delta: 'é' } }, seq: 7 });
});

test('device proof: v3 and v2 verify; the id must be the key hash; signedAt within 120 s', () => {
  const d = newLegacyDevice();
  const now = Date.now();
  const p = connectParams({ auth: { token: 'tok' }, client: { id: 'openclaw-ios', version: '1', platform: 'iOS', mode: 'ui', deviceFamily: 'iPhone' } });
  for (const version of ['v3', 'v2'] as const) {
    const signed = signDevice(p, d, 'n1', { version, signedAt: now - 119_000 });
    expect(verifyDeviceProof(signed as never, signed.device, { nonce: 'n1', now })).toEqual({ ok: true, version });
  }
  const late = signDevice(p, d, 'n1', { signedAt: now - 121_000 });
  expect(verifyDeviceProof(late as never, late.device, { nonce: 'n1', now })).toEqual({ ok: false, failure: 'device-signature-stale' });
  const upper = signDevice(p, d, 'n1', { id: d.id.toUpperCase() });
  expect(verifyDeviceProof(upper as never, upper.device, { nonce: 'n1', now })).toEqual({ ok: false, failure: 'device-id-mismatch' });
  const shortKey = signDevice(p, d, 'n1', { publicKey: 'AAAA' });
  expect(verifyDeviceProof(shortKey as never, shortKey.device, { nonce: 'n1', now })).toEqual({ ok: false, failure: 'device-id-mismatch' });
  // The real gateway checks the time before the nonce: a stale signature with a wrong nonce is "expired".
  const staleAndWrongNonce = signDevice(p, d, 'other', { signedAt: now - 121_000 });
  expect(verifyDeviceProof(staleAndWrongNonce as never, staleAndWrongNonce.device, { nonce: 'n1', now })).toEqual({ ok: false, failure: 'device-signature-stale' });
  const wrongNonce = signDevice(p, d, 'other');
  expect(verifyDeviceProof(wrongNonce as never, wrongNonce.device, { nonce: 'n1', now })).toEqual({ ok: false, failure: 'device-nonce-mismatch' });
  const badSig: Record<string, any> = { ...signDevice(p, d, 'n1'), auth: { token: 'other' } };
  expect(verifyDeviceProof(badSig as never, badSig.device, { nonce: 'n1', now })).toEqual({ ok: false, failure: 'device-signature' });
});

test('config.set becomes the merge patch between the current and the new config', () => {
  const before = { a: 1, b: { c: 2, d: 3 }, e: [1, 2], f: 'x' };
  const after = { a: 1, b: { c: 5 }, e: [1, 2, 3], g: true };
  expect(mergePatchBetween(before, after)).toEqual({ b: { c: 5, d: null }, e: [1, 2, 3], f: null, g: true });
  expect(mergePatchBetween(before, before)).toEqual({});
});
