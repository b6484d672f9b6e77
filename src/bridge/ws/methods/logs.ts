import { createHash } from 'node:crypto';
import { LogService } from '../../../gen/openclaw/logs/v1/logs_pb';
import { callMetadata } from '../../../transport/grpc/client/gateway-connection';
import { Params } from './params';
import { readStream } from './streams';
import type { LegacyMethod } from './types';

/** A cursor names the last line a client has seen (the gateway's log buffer has no offsets). */
function cursorOf(line: string): string {
  return createHash('sha256').update(line).digest('base64url').slice(0, 16);
}

/**
 * `logs.tail`: the gateway's recent log lines (JSON strings). With the cursor of an
 * earlier answer it returns only newer lines; `reset` says the cursor was not found
 * (the buffer moved on) and everything available is returned.
 */
export const LOG_METHODS: readonly LegacyMethod[] = [
  {
    method: 'logs.tail',
    scope: 'operator.read',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const limit = p.int('limit', 1, 5000) ?? 500;
      const maxBytes = p.int('maxBytes', 1, 10 * 1024 * 1024) ?? 1024 * 1024;
      const cursor = typeof p.get('cursor') === 'string' ? (p.get('cursor') as string) : undefined;
      const c = ctx.gateway.client(LogService);
      const call = c.tailLogs({ lines: limit, follow: false }, callMetadata(ctx.streamCall), { deadline: ctx.clock.now() + (ctx.call.timeoutMs ?? 15_000) });
      let lines: string[] = [];
      await readStream(call, ctx.signal, (m) => lines.push(m.lineJson));
      let reset = false;
      if (cursor) {
        const at = lines.map(cursorOf).lastIndexOf(cursor);
        if (at >= 0) lines = lines.slice(at + 1);
        else reset = true;
      }
      let size = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
      let truncated = false;
      while (size > maxBytes && lines.length > 0) {
        size -= Buffer.byteLength(lines.shift()!) + 1;
        truncated = true;
      }
      const next = lines.length > 0 ? cursorOf(lines[lines.length - 1]) : (cursor ?? '');
      return { file: 'gateway', cursor: next, size, lines, truncated, reset };
    },
  },
];
