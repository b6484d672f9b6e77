import { eventually } from './eventually';

/**
 * Kept only for the test files that still import it (pairing's, edited elsewhere at the
 * moment): `eventually` (./eventually.ts) with the arguments the other way round. New
 * tests use `eventually`.
 */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  await eventually(what, cond, timeoutMs);
}
