/**
 * Waiting for a condition another process or replica brings about: checks it again every
 * few milliseconds until it holds, and fails with `what` when it does not within the
 * limit (instead of sleeping a fixed time and hoping).
 */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
