/** The GatewayError a call fails with, for assertions on code, reason and message. */
import { GatewayError } from '../../src/errors';

/** The GatewayError `fn` throws (fails the test when it returns normally or throws something else). */
export function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, but the call succeeded');
}

/** The GatewayError `promise` rejects with (fails the test when it resolves or rejects with something else). */
export async function rejected(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, but the call succeeded');
}
