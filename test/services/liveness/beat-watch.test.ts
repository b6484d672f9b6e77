/**
 * BeatWatch on a manual monotonic clock: a holder is gone only after its beat stayed the
 * same for more than a lease of this process's unbroken contact with the store; a silence
 * of the store longer than `lease - 1.5 beats`, or a failed transaction, starts the count
 * again; a refusal by the transaction's own function is an answer.
 */
import { ManualClock } from '../../../src/clock';
import { BeatWatch, watched } from '../../../src/services/liveness/beat-watch';

const LEASE = 9000;
const BEAT = 3000;

function setup() {
  const clock = new ManualClock(0);
  const watch = new BeatWatch({ clock, leaseMs: LEASE, beatEveryMs: BEAT });
  /** The store answers every `every` ms for `ms` ms. */
  const answering = (ms: number, every = BEAT) => {
    for (let t = 0; t < ms; t += every) {
      clock.advance(Math.min(every, ms - t));
      watch.answered();
    }
  };
  return { clock, watch, answering };
}

describe('BeatWatch', () => {
  it('a holder whose beat stays the same is gone after more than a lease of contact, not at exactly a lease; a new beat starts again', () => {
    const { watch, answering, clock } = setup();
    watch.answered();
    expect(watch.gone('h', 1)).toBe(false);
    answering(LEASE);
    expect(watch.gone('h', 1)).toBe(false);
    clock.advance(1);
    watch.answered();
    expect(watch.gone('h', 1)).toBe(true);
    expect(watch.gone('h', 2)).toBe(false);
    answering(LEASE);
    expect(watch.gone('h', 2)).toBe(false);
    expect(watch.gone('other', 'x')).toBe(false);
  });

  it('a silence of the store longer than lease - 1.5 beats starts the count again at the next answer', () => {
    const { watch, answering, clock } = setup();
    expect(watch.maxGapMs).toBe(LEASE - 1.5 * BEAT);
    watch.answered();
    watch.gone('h', 1);
    answering(3000);
    clock.advance(watch.maxGapMs + 1); // e.g. the database failed over
    watch.answered();
    answering(LEASE);
    expect(watch.gone('h', 1)).toBe(false);
    clock.advance(1);
    watch.answered();
    expect(watch.gone('h', 1)).toBe(true);
  });

  it('a silence up to lease - 1.5 beats does not break contact', () => {
    const { watch, answering, clock } = setup();
    watch.answered();
    watch.gone('h', 1);
    clock.advance(watch.maxGapMs);
    watch.answered();
    answering(LEASE - watch.maxGapMs + 1);
    expect(watch.gone('h', 1)).toBe(true);
  });

  it('without contact right now (no answer for too long), nobody is gone', () => {
    const { watch, answering, clock } = setup();
    watch.answered();
    watch.gone('h', 1);
    answering(LEASE + 1);
    clock.advance(watch.maxGapMs + 1);
    expect(watch.gone('h', 1)).toBe(false);
  });

  it('a failed transaction starts the count again, however short the failure', () => {
    const { watch, answering, clock } = setup();
    watch.answered();
    watch.gone('h', 1);
    answering(6000);
    watch.failed();
    clock.advance(1000);
    watch.answered();
    answering(LEASE);
    expect(watch.gone('h', 1)).toBe(false);
    clock.advance(1);
    watch.answered();
    expect(watch.gone('h', 1)).toBe(true);
  });

  it('watched(): a transaction that ran and committed is an answer, a function that refused too, a store that failed is not', async () => {
    const { watch, answering, clock } = setup();
    const ok = <R>(fn: (tx: null) => R) => Promise.resolve(fn(null));
    const broken = () => Promise.reject(new Error('connection refused'));
    await watched(watch, ok, () => watch.gone('h', 1));
    answering(6000);
    await expect(
      watched(watch, ok, () => {
        throw new Error('SESSION_BUSY');
      }),
    ).rejects.toThrow('SESSION_BUSY');
    answering(3000);
    clock.advance(1);
    expect(await watched(watch, ok, () => watch.gone('h', 1))).toBe(true);
    await expect(watched(watch, broken, () => undefined)).rejects.toThrow('connection refused');
    clock.advance(1);
    expect(await watched(watch, ok, () => watch.gone('h', 1))).toBe(false);
  });

  it('forgets holders it is told are gone; refuses a lease shorter than three beats', () => {
    const { watch, answering } = setup();
    watch.answered();
    watch.gone('h', 1);
    watch.keepOnly([]);
    answering(LEASE + 1);
    expect(watch.gone('h', 1)).toBe(false);
    expect(() => new BeatWatch({ clock: new ManualClock(0), leaseMs: 5999, beatEveryMs: 2000 })).toThrow(RangeError);
  });
});
