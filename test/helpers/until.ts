/**
 * Polls `probe` until it returns a value other than undefined/false, with a short pause
 * between tries and an overall deadline (a condition is waited for, never a fixed time).
 */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, deadlineMs = 5000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
