/**
 * A TCP forwarder between a process and a server (here: a gateway and its PostgreSQL),
 * whose network a test can break the way real ones break: silently. A silenced
 * connection stays open on both sides and carries nothing any more (a dropped NAT
 * entry, a partition: no error, no reset), and during a partition new connections are
 * accepted and then never answered.
 *
 *   const proxy = await startTcpProxy(pg.port);
 *   const url = proxy.rewrite(databaseUrl);      // the same database, through the proxy
 *   proxy.partition();  ...  proxy.heal();
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** One connection through the proxy. */
export interface ProxiedConnection {
  /** The local port of its server side: what the server sees as the client's port (PostgreSQL: `client_port`). */
  readonly upstreamPort: number | undefined;
  /** Stops carrying anything, both ways, without closing either side. */
  silence(): void;
  readonly silenced: boolean;
}

export interface TcpProxy {
  /** Where clients connect: 127.0.0.1:port. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /** Connections open through the proxy now. */
  connections(): ProxiedConnection[];
  /** Silences every connection, and holds new ones unanswered, until `heal`. */
  partition(): void;
  /** Carries new connections again; the silenced ones are cut (the network answers them with a reset at last). */
  heal(): void;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port forwarding to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<{ client: Socket; upstream?: Socket; conn: ProxiedConnection }>();
  /** Every socket, for close (a silenced one outlives its entry, as the server's side does). */
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  let partitioned = false;

  const server: Server = createServer((client) => {
    client.on('error', () => undefined);
    track(client);
    let silenced = false;
    let upstream: Socket | undefined;
    const conn: ProxiedConnection = {
      get upstreamPort() {
        return upstream?.localPort;
      },
      get silenced() {
        return silenced;
      },
      silence: () => {
        silenced = true;
      },
    };
    const entry = { client, upstream, conn };
    open.add(entry);
    const forget = () => {
      open.delete(entry);
      client.destroy();
      upstream?.destroy();
    };
    if (partitioned) {
      // Accepted, and never answered.
      silenced = true;
      client.on('close', () => open.delete(entry));
      return;
    }
    upstream = connect(targetPort, '127.0.0.1');
    entry.upstream = upstream;
    track(upstream);
    upstream.on('error', () => undefined);
    client.on('data', (d) => void (silenced || upstream!.write(d)));
    upstream.on('data', (d) => void (silenced || client.write(d)));
    // A close is carried only while the connection is not silenced (nothing is, after).
    client.on('close', () => (silenced ? open.delete(entry) : forget()));
    upstream.on('close', () => {
      if (!silenced) forget();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    port,
    rewrite: (url) => {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    connections: () => [...open].map((e) => e.conn),
    partition: () => {
      partitioned = true;
      for (const e of open) e.conn.silence();
    },
    heal: () => {
      partitioned = false;
      for (const e of [...open]) {
        if (!e.conn.silenced) continue;
        open.delete(e);
        e.client.resetAndDestroy();
        e.upstream?.destroy();
      }
    },
    close: async () => {
      for (const s of [...sockets]) s.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
