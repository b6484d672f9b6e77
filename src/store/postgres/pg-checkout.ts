import type { Pool, PoolClient } from 'pg';
import { errors } from '../../errors';

/** A pooled connection checked out for one unit of work; give it back with `done`. */
export type CheckedOutClient = PoolClient & { done: (err?: unknown) => void };

/**
 * A pooled connection for one unit of work. While it is checked out the pool does not
 * listen for its errors, so we do: a server that goes away mid-transaction fails that
 * transaction instead of the process. `done` throws a broken connection away instead of
 * returning it to the pool.
 */
export async function checkout(pool: Pool): Promise<CheckedOutClient> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw errors.unavailable('DATABASE_UNREACHABLE', `cannot reach the database (${(err as Error).message})`);
  }
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  return Object.assign(client, {
    done: (err?: unknown) => {
      client.off('error', onError);
      client.release(broken ?? (err instanceof Error && !(err as { reason?: string }).reason ? err : undefined));
    },
  });
}
