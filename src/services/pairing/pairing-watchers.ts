import type { PairingOutcome } from './pairing-requests';

/** A requester's open watch: called with `pending`, then once with the final outcome. */
export type PairingListener = (o: PairingOutcome) => void;

/**
 * The requesters' watch streams open on this replica, by request id. Streams do not
 * move between replicas; the outcome reaches them through the store, whichever replica
 * decided it.
 */
export class PairingWatchers {
  private readonly byRequest = new Map<string, { deviceId: string; listeners: Set<PairingListener> }>();

  /** Adds a watcher; returns the function that removes it. */
  add(requestId: string, deviceId: string, listener: PairingListener): () => void {
    let entry = this.byRequest.get(requestId);
    if (!entry) this.byRequest.set(requestId, (entry = { deviceId, listeners: new Set() }));
    const listeners = entry.listeners;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.byRequest.get(requestId)?.listeners === listeners) this.byRequest.delete(requestId);
    };
  }

  /** Request ids somebody watches here. */
  ids(): string[] {
    return [...this.byRequest.keys()];
  }

  /** The device id a watched request is for. */
  deviceOf(requestId: string): string | undefined {
    return this.byRequest.get(requestId)?.deviceId;
  }

  /** Gives a final outcome to every watcher of a request and forgets them; returns how many got it. */
  settle(requestId: string, outcome: PairingOutcome): number {
    const entry = this.byRequest.get(requestId);
    if (!entry) return 0;
    this.byRequest.delete(requestId);
    for (const fn of entry.listeners) fn(outcome);
    return entry.listeners.size;
  }
}
