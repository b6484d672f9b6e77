/**
 * The one way tests wait for something another process, replica or timer brings about
 * (never a fixed sleep): tries `probe` every few milliseconds until it returns a value
 * (anything but `undefined` or `false`), within a deadline, and fails naming what it
 * was waiting for and the last error the probe threw (a throwing probe is tried again).
 *
 *   await eventually('B sees the session', () => b.list().length === 1);
 *   const run = await eventually('the run is claimed', () => runs().find((r) => r.status === 'running'));
 */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, deadlineMs = 5000): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${deadlineMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
