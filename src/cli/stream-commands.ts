/**
 * events (EventService.Subscribe) and logs (LogService.TailLogs): long-running reads,
 * one line per item.
 *
 * --json prints one object per line (NDJSON): events -> the Event message as protobuf
 * JSON ({ seq, subscriptionId, type, tsMs, payloadJson }); logs -> the gateway's log
 * record as it is (pino JSON).
 */
import { EventSchema, EventService } from '../gen/openclaw/events/v1/events_pb';
import { LogService } from '../gen/openclaw/logs/v1/logs_pb';
import { errors } from '../errors';
import type { CliContext } from './cli-context';
import { isoTime } from './output';
import { protoJson } from './proto-json';
import { splitList, wholeNumber } from './args';

/** The first event of every subscription, sent by the gateway at once; not counted by --count. */
const SUBSCRIBED = 'subscribed';

/** Stops a stream on Ctrl-C and turns that into a clean exit. */
function cancelOnInterrupt(ctx: CliContext, cancel: () => void): () => void {
  return ctx.runtime.onInterrupt?.(cancel) ?? (() => undefined);
}

/**
 * `events`: follows the gateway's event stream. The first line is the "subscribed"
 * event (its subscriptionId resumes with --resume/--after); --count N stops after N
 * further events.
 */
export async function events(ctx: CliContext, o: { types?: string; count?: string; resume?: string; after?: string }): Promise<void> {
  const count = wholeNumber(o.count, '--count');
  const after = wholeNumber(o.after, '--after');
  if (after !== undefined && !o.resume) throw errors.invalid('AFTER_WITHOUT_RESUME', '--after needs --resume <subscription id>');
  const conn = await ctx.connect();
  const stream = conn.serverStream(EventService.method.subscribe, { types: splitList(o.types), subscriptionId: o.resume ?? '', resumeAfterSeq: BigInt(after ?? 0) });
  const stop = cancelOnInterrupt(ctx, () => stream.cancel());
  let seen = 0;
  try {
    if (count === 0) return;
    for await (const msg of stream) {
      const e = msg.event;
      if (!e) continue;
      if (ctx.out.json) ctx.out.record(protoJson(EventSchema, e));
      else if (e.type === SUBSCRIBED) ctx.out.line(ctx.out.paint('dim', `${isoTime(e.tsMs)}  subscribed (subscription ${e.subscriptionId})`));
      else ctx.out.line(`${ctx.out.paint('dim', isoTime(e.tsMs))}  ${ctx.out.paint('bold', e.type)}  ${e.payloadJson}`);
      if (e.type !== SUBSCRIBED && count !== undefined && ++seen >= count) break;
    }
  } finally {
    stop();
    stream.cancel();
  }
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino record as a human line: time, level, message, then the other fields as JSON. */
function logLine(ctx: CliContext, json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, pid: _pid, hostname: _host, ...rest } = rec;
  const lvl = typeof level === 'number' ? (LEVELS[level] ?? String(level)) : String(level ?? '');
  const t = typeof time === 'number' ? isoTime(time) : String(time ?? '');
  const colored = lvl === 'ERROR' || lvl === 'FATAL' ? ctx.out.paint('red', lvl) : lvl === 'WARN' ? ctx.out.paint('yellow', lvl) : lvl;
  const extra = Object.keys(rest).length > 0 ? `  ${JSON.stringify(rest)}` : '';
  return `${ctx.out.paint('dim', t)} ${colored.padEnd(5)} ${String(msg ?? '')}${extra}`;
}

/** `logs`: the last lines of the gateway log; with --follow, new lines as they come. */
export async function logs(ctx: CliContext, o: { lines?: string; follow?: boolean }): Promise<void> {
  const lines = wholeNumber(o.lines, '--lines') ?? 0;
  const conn = await ctx.connect();
  const stream = conn.serverStream(LogService.method.tailLogs, { lines, follow: Boolean(o.follow) });
  const stop = cancelOnInterrupt(ctx, () => stream.cancel());
  try {
    for await (const msg of stream) {
      if (ctx.out.json) ctx.out.line(msg.lineJson);
      else ctx.out.line(logLine(ctx, msg.lineJson));
    }
  } finally {
    stop();
  }
}
