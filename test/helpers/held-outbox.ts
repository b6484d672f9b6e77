/**
 * Holds the event outbox of a PostgreSQL database busy while a change is made: its head
 * row is locked by a connection of the test, as a long append or a slow database would.
 * A change whose events are written with it cannot commit meanwhile (its transaction
 * waits for the head row); a change whose events are written after it commits is
 * acknowledged while its events still wait. `atAck` runs the moment the change is
 * acknowledged, with the outbox still held if it was acknowledged while held; the outbox
 * is released once `atAck` ran, or once the change's own transaction waits for it.
 *
 *   const { result, seen } = await withOutboxHeld(url, () => service.add(...), async () => log.read(0, 100));
 */
import { Client } from 'pg';
import { eventually } from './eventually';

/** A transaction that took a collection's lock (every `mutate` does) waits for the outbox's head row. */
const CHANGE_WAITS_FOR_OUTBOX = `
  SELECT count(*) AS n FROM pg_stat_activity a
  WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.query LIKE 'UPDATE openclaw_event_head%'
    AND EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE l.pid = a.pid AND l.granted AND c.relname = 'openclaw_collections' AND l.mode = 'RowExclusiveLock')`;

export async function withOutboxHeld<T, S>(url: string, change: () => Promise<T>, atAck: (result: T) => Promise<S>, deadlineMs = 10_000): Promise<{ result: T; seen: S; heldAtAck: boolean }> {
  const holder = new Client({ connectionString: url });
  const watcher = new Client({ connectionString: url });
  await holder.connect();
  await watcher.connect();
  let held = true;
  let acked: { result: T; seen: S; heldAtAck: boolean } | undefined;
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT seq FROM openclaw_event_head WHERE id = 1 FOR UPDATE');
    const done = change().then(async (result) => {
      const heldAtAck = held;
      acked = { result, seen: await atAck(result), heldAtAck };
      return acked;
    });
    // Unhandled until awaited below: a failing change fails the test there.
    done.catch(() => undefined);
    await eventually(
      'the change was acknowledged, or its transaction waits for the outbox',
      async () => acked !== undefined || Number((await watcher.query<{ n: string }>(CHANGE_WAITS_FOR_OUTBOX)).rows[0].n) > 0,
      deadlineMs,
    );
    held = false;
    await holder.query('COMMIT');
    return await done;
  } finally {
    held = false;
    await holder.end().catch(() => undefined);
    await watcher.end().catch(() => undefined);
  }
}
