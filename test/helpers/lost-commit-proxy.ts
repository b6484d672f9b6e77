/**
 * A TCP proxy in front of a PostgreSQL server that can lose the answer to one COMMIT: the
 * COMMIT reaches the server, which commits; its answer never reaches the client, whose
 * connection is cut instead. That is what a client sees when the network fails at that
 * moment: it cannot tell whether its transaction committed.
 *
 *   const proxy = await startLostCommitProxy(port);
 *   proxy.loseNextCommit('INSERT INTO openclaw_events');  // of a transaction that sent this
 *   ...
 *   await proxy.close();
 */
import { createServer, connect, type Socket } from 'node:net';

export interface LostCommitProxy {
  /** The port clients connect to (on 127.0.0.1). */
  port: number;
  /** Loses the answer to the next COMMIT sent on a connection whose transaction sent `marker` (a piece of SQL). */
  loseNextCommit(marker: string): void;
  /** How many COMMIT answers were lost so far. */
  readonly lost: number;
  close(): Promise<void>;
}

/** A simple-protocol query message holding exactly `COMMIT`. */
const COMMIT_QUERY = Buffer.concat([Buffer.from('Q'), Buffer.from([0, 0, 0, 11]), Buffer.from('COMMIT\0')]);

export async function startLostCommitProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<LostCommitProxy> {
  let marker: string | undefined;
  let lost = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    let sentMarker = false;
    let losing = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (marker && chunk.includes(marker)) sentMarker = true;
      if (marker && sentMarker && chunk.includes(COMMIT_QUERY)) {
        marker = undefined;
        losing = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (losing) {
        // The server answered the COMMIT (it committed): the client never hears it.
        lost++;
        cut();
        return;
      }
      client.write(chunk);
    });
    for (const s of [client, upstream]) {
      s.on('error', cut);
      s.on('close', () => {
        sockets.delete(s);
        cut();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    loseNextCommit: (m) => {
      marker = m;
    },
    get lost() {
      return lost;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
