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
