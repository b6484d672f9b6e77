import type { Logger } from '../../../logging';

/** Something long-lived a device holds open (a server stream) that can be cut. */
export interface CancellableStream {
  /** Ends the stream with UNAUTHENTICATED, `reason` as message and `code` as reason code. */
  cancel(reason: string, code: string): void;
  /** When it was opened (clock ms), to end only streams older than a change. */
  openedAt?: number;
}

/**
 * The open streams of each device, so that a revocation (or a certificate that
 * expires while a stream is open) ends them at once rather than at the next call.
 */
export class StreamRegistry {
  private readonly byDevice = new Map<string, Set<CancellableStream>>();

  constructor(private readonly log: Logger) {}

  /** Registers a stream under one or more device ids; returns the function that unregisters it. */
  track(deviceIds: readonly string[], stream: CancellableStream): () => void {
    for (const id of deviceIds) {
      let set = this.byDevice.get(id);
      if (!set) this.byDevice.set(id, (set = new Set()));
      set.add(stream);
    }
    return () => {
      for (const id of deviceIds) {
        const set = this.byDevice.get(id);
        set?.delete(stream);
        if (set && set.size === 0) this.byDevice.delete(id);
      }
    };
  }

  /** Open streams (each counted once, whatever number of devices it is tracked under). */
  count(): number {
    const all = new Set<CancellableStream>();
    for (const set of this.byDevice.values()) for (const s of set) all.add(s);
    return all.size;
  }

  /** Device ids that currently hold streams. */
  devices(): string[] {
    return [...this.byDevice.keys()];
  }

  /** Ends the streams of a device opened before `at` (credentials changed then: a rotated or revoked device token). */
  cancelOpenedBefore(deviceId: string, at: number, reason: string, code: string): number {
    const set = this.byDevice.get(deviceId);
    if (!set) return 0;
    const old = [...set].filter((s) => s.openedAt !== undefined && s.openedAt < at);
    for (const s of old) {
      set.delete(s);
      try {
        s.cancel(reason, code);
      } catch (err) {
        this.log.warn({ err, deviceId }, 'cancelling a stream failed');
      }
    }
    if (set.size === 0) this.byDevice.delete(deviceId);
    return old.length;
  }

  /** Ends every stream of a device. */
  cancelDevice(deviceId: string, reason: string, code = 'DEVICE_REVOKED'): number {
    const set = this.byDevice.get(deviceId);
    if (!set) return 0;
    const streams = [...set];
    this.byDevice.delete(deviceId);
    for (const s of streams) {
      try {
        s.cancel(reason, code);
      } catch (err) {
        this.log.warn({ err, deviceId }, 'cancelling a stream failed');
      }
    }
    return streams.length;
  }
}
