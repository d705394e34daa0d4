import type { CollectEvent } from '../events/event-types';
import { getItem, removeItem, setItem } from './storage';

/**
 * The events not yet acknowledged by the server, persisted in localStorage after every change so a
 * crash, an unload mid-batch or a long offline spell loses nothing. Bounded: past `limit` the oldest
 * events are dropped (a browser has no metrics registry; the count is kept in `dropped`).
 */
export class EventQueue {
  items: CollectEvent[] = [];
  /** Events dropped because the queue was full, since the page loaded. */
  dropped = 0;

  constructor(
    private readonly key: string,
    private readonly limit: number,
  ) {
    // TRICKY: events left by an earlier page (unloaded before its ack) are adopted and resent; the
    // server drops the duplicates by event id. Two tabs of one site share the key, so a tab that dies
    // without `pagehide` can lose its unsent events to the other tab's next save.
    try {
      const saved: unknown = JSON.parse(getItem(key) ?? '[]');
      if (Array.isArray(saved)) this.items = (saved as CollectEvent[]).slice(-limit);
    } catch {
      // Corrupt storage: start empty rather than fail the page.
    }
  }

  push(e: CollectEvent): void {
    const over = this.items.push(e) - this.limit;
    if (over > 0) {
      this.items.splice(0, over);
      this.dropped += over;
    }
    this.save();
  }

  /** Drops acknowledged events. */
  remove(ids: ReadonlySet<string>): void {
    this.items = this.items.filter((e) => !ids.has(e.id));
    this.save();
  }

  clear(): void {
    this.items = [];
    removeItem(this.key);
  }

  private save(): void {
    if (this.items.length > 0) setItem(this.key, JSON.stringify(this.items));
    else removeItem(this.key);
  }
}
