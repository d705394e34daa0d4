import { epochMillis, type EpochMillis } from './types';

/**
 * Wall-clock time, injected. Processors never read it (they see event time and watermarks); the
 * gateway (receive time, skew correction), the idle-watermark advance and timers do.
 */
export interface Clock {
  now(): EpochMillis;
}

export class SystemClock implements Clock {
  now(): EpochMillis {
    return epochMillis(Date.now());
  }
}

/** A clock that moves only when told to: for tests and deterministic replays. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: number = 0) {
    this.#now = start;
  }
  now(): EpochMillis {
    return epochMillis(this.#now);
  }
  set(t: number): void {
    this.#now = t;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}
