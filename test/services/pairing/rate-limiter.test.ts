/** The token buckets behind every anonymous rate budget. */
import { ManualClock } from '../../../src/clock';
import { RateLimiter } from '../../../src/services/pairing/rate-limiter';

test('per key: capacity at once, then the refill rate; keys do not share a bucket', () => {
  const clock = new ManualClock(1_000_000);
  const rl = new RateLimiter(clock, { capacity: 3, perMinute: 6 }, { capacity: 100, perMinute: 100 });
  expect([1, 2, 3, 4].map(() => rl.take('a'))).toEqual([true, true, true, false]);
  expect(rl.take('b')).toBe(true);
  clock.advance(10_000); // one token per 10 s
  expect([rl.take('a'), rl.take('a')]).toEqual([true, false]);
});

test('the global bucket caps all keys together', () => {
  const clock = new ManualClock(0);
  const rl = new RateLimiter(clock, { capacity: 5, perMinute: 5 }, { capacity: 4, perMinute: 1 });
  expect(['a', 'b', 'c', 'd', 'e'].map((k) => rl.take(k))).toEqual([true, true, true, true, false]);
});

test('a clock that steps back neither drains the bucket nor stops it refilling', () => {
  const clock = new ManualClock(10 * 60_000);
  const rl = new RateLimiter(clock, { capacity: 2, perMinute: 2 }, { capacity: 100, perMinute: 100 });
  expect([rl.take('a'), rl.take('a'), rl.take('a')]).toEqual([true, true, false]);
  clock.set(0); // back ten minutes
  expect(rl.take('a')).toBe(false);
  clock.advance(30_000); // refills from the new reading on
  expect(rl.take('a')).toBe(true);
});

test('an empty global bucket refuses before any per-key bucket is made: distinct keys cost no memory', () => {
  const clock = new ManualClock(0);
  const rl = new RateLimiter(clock, { capacity: 5, perMinute: 5 }, { capacity: 2, perMinute: 1 });
  expect([rl.take('a'), rl.take('b')]).toEqual([true, true]);
  let admitted = 0;
  for (let i = 0; i < 300_000; i++) if (rl.take(`k${i}`)) admitted += 1;
  expect({ admitted, size: rl.size }).toEqual({ admitted: 0, size: 2 });
  // A key refused by the global bucket kept its own budget.
  clock.advance(60_000);
  expect(rl.take('k1')).toBe(true);
});

test('at most maxKeys buckets: full (idle) ones are dropped first, then new keys are refused; known keys go on', () => {
  const clock = new ManualClock(0);
  const rl = new RateLimiter(clock, { capacity: 2, perMinute: 2 }, { capacity: 1000, perMinute: 1000 }, 3);
  expect(['a', 'b', 'c', 'd'].map((k) => rl.take(k))).toEqual([true, true, true, false]);
  expect(rl.size).toBe(3);
  expect(rl.take('a')).toBe(true); // a known key is not affected by the cap
  clock.advance(30_000); // b and c refill to full; a (two tokens spent) does not
  expect([rl.take('d'), rl.take('e'), rl.take('f')]).toEqual([true, true, false]);
  expect(rl.size).toBe(3);
  expect(rl.take('a')).toBe(true);
  expect(rl.take('a')).toBe(false); // a kept its state: one token refilled, then empty
});

test('the default cap holds against 300k distinct keys while the global bucket has tokens', () => {
  const clock = new ManualClock(0);
  const rl = new RateLimiter(clock, { capacity: 1, perMinute: 1 }, { capacity: 1e9, perMinute: 1e9 });
  let admitted = 0;
  for (let i = 0; i < 300_000; i++) if (rl.take(`k${i}`)) admitted += 1;
  expect({ admitted, size: rl.size }).toEqual({ admitted: 50_000, size: 50_000 });
});

test('stale buckets are pruned every so many calls, even when every call is refused', () => {
  const clock = new ManualClock(0);
  const rl = new RateLimiter(clock, { capacity: 2, perMinute: 2 }, { capacity: 10, perMinute: 0 });
  for (let i = 0; i < 10; i++) expect(rl.take(`k${i}`)).toBe(true);
  expect(rl.size).toBe(10);
  clock.advance(10 * 60_000);
  let admitted = 0;
  for (let i = 0; i < 5000; i++) if (rl.take('refused')) admitted += 1; // the global bucket never refills
  expect(admitted).toBe(0);
  expect(rl.size).toBe(0);
});

test('after a clock step back, buckets that have not refilled are not dropped early', () => {
  const clock = new ManualClock(10 * 60_000);
  const rl = new RateLimiter(clock, { capacity: 2, perMinute: 2 }, { capacity: 1000, perMinute: 1000 }, 2);
  expect([rl.take('a'), rl.take('a'), rl.take('b')]).toEqual([true, true, true]);
  clock.set(0);
  expect(rl.take('c')).toBe(false); // a and b are still spent: nothing to drop
  expect(rl.take('a')).toBe(false);
  clock.advance(60_000); // a refilled from the new reading and makes room; b, last seen "in the future", has not
  expect([rl.take('c'), rl.take('d')]).toEqual([true, false]);
  expect(rl.size).toBe(2);
});
