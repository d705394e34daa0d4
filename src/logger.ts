import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * The root logger; components get `logger.child({component})`. Passed in, never imported as a
 * singleton. `pretty` (the CLI sets it when stdout is a terminal) prints readable, coloured lines
 * through pino-pretty in this thread; otherwise one JSON object per line for log shippers.
 */
export function createLogger(level: string, destination?: pino.DestinationStream | { readonly pretty: boolean }): Logger {
  if (destination === undefined) return pino({ level });
  if ('pretty' in destination) {
    return destination.pretty ? pino({ level }, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })) : pino({ level });
  }
  return pino({ level }, destination);
}
