/**
 * Kept only for the test files that still import it (the event log's, edited elsewhere
 * at the moment): the same as `eventually` (./eventually.ts), which new tests use.
 */
export { eventually as until } from './eventually';
