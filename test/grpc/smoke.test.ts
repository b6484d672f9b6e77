import { hostname } from 'node:os';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.close();
});

test('operator gets status; anonymous is refused', async () => {
  const c = t.connect('cli').client(GatewayService);
  const s = await unaryCall(c, c.getStatus, {});
  expect(s.devicesActive).toBe(3);
  // This process, and where its state is kept (the state dir: no database URL given).
  expect({ replica: s.replica, storage: s.storage }).toEqual({ replica: `${hostname()}/${process.pid}`, storage: 'files' });
  const a = t.anonymous().client(GatewayService);
  await expect(unaryCall(a, a.getStatus, {})).rejects.toMatchObject({ reason: 'NO_CLIENT_CERT' });
});
