import pino, { type Logger } from 'pino';

export type { Logger };

/** The root logger; components get `logger.child({component})`. Passed in, never imported as a singleton. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return destination === undefined ? pino({ level }) : pino({ level }, destination);
}
