/**
 * The log level changes while the gateway runs (`logging.level`): every destination
 * (the main one and the in-memory tail) follows the logger's level, and so do
 * component loggers (bridge, worker) made with componentLogger.
 */
import { Writable } from 'node:stream';
import { componentLogger, createLogger } from '../../src/logging';

function sink(): { msgs: () => string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { msgs: () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg), stream };
}

test('a level change applies to every destination and to component loggers', () => {
  const main = sink();
  const tail = sink();
  const log = createLogger({ level: 'info', destination: main.stream, extraStreams: [tail.stream] });
  const bridge = componentLogger(log, { component: 'bridge' });
  log.debug('root debug 1');
  bridge.debug('bridge debug 1');
  log.level = 'debug';
  log.debug('root debug 2');
  bridge.debug('bridge debug 2');
  log.level = 'warn';
  log.info('root info 3');
  bridge.info('bridge info 3');
  bridge.warn('bridge warn 3');
  for (const s of [main, tail]) expect(s.msgs()).toEqual(['root debug 2', 'bridge debug 2', 'bridge warn 3']);
  // Setting a component's own level does not move the others.
  bridge.level = 'trace';
  expect(log.level).toBe('warn');
});
