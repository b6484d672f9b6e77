import { Writable } from 'node:stream';

/**
 * Keeps the gateway's last log lines in memory and feeds followers, so `logs tail`
 * works without reading files. It is a pino destination (JSON lines in, as-is out).
 */
export class LogBuffer extends Writable {
  private readonly lines: string[] = [];
  private readonly followers = new Set<(line: string) => void>();
  private partial = '';

  constructor(private readonly capacity = 2000) {
    super({ decodeStrings: false });
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line) this.push1(line);
    cb();
  }

  private push1(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
    for (const f of this.followers) f(line);
  }

  /** The last `n` lines (JSON strings). */
  tail(n: number): string[] {
    return this.lines.slice(-Math.max(0, Math.min(n, this.capacity)));
  }

  /** Calls `fn` for each new line; returns the function that stops following. */
  follow(fn: (line: string) => void): () => void {
    this.followers.add(fn);
    return () => this.followers.delete(fn);
  }
}
