/**
 * Which collect socket a visitor was last seen on, so an offer can be pushed to the visitor's own
 * page (DESIGN.md §6). Bounded per site — one site's flood of visitors never evicts another site's
 * bindings: at most `capacity` visitors per site, least recently bound evicted first (reported). A
 * socket's bindings are dropped when it closes.
 */
import { BoundedLru } from '../bounded-lru';
import { requireBound } from '../errors';

/** The part of a WebSocket the registry needs. */
export interface PushSocket {
  send(data: string): void;
}

export class VisitorSocketRegistry {
  /** Per site (created on first use): visitor → socket. */
  readonly #sites = new Map<string, BoundedLru<string, PushSocket>>();
  readonly #capacity: number;
  readonly #onEvict: () => void;
  /** Reverse index for unbindSocket (`site\u0000visitor` keys); entries leave with their binding. */
  readonly #bySocket = new Map<PushSocket, Set<string>>();

  constructor(opts: { readonly capacity: number; readonly onEvict: () => void }) {
    this.#capacity = requireBound('VisitorSocketRegistry capacity', opts.capacity);
    this.#onEvict = opts.onEvict;
  }

  #site(site: string): BoundedLru<string, PushSocket> {
    let m = this.#sites.get(site);
    if (m === undefined) {
      m = new BoundedLru<string, PushSocket>({
        max: this.#capacity,
        dispose: (socket, visitorId, reason) => {
          this.#unlink(socket, `${site}\u0000${visitorId}`);
          if (reason === 'evict') this.#onEvict();
        },
      });
      this.#sites.set(site, m);
    }
    return m;
  }

  /** Records that `visitorId` of `site` sends on `socket` (the latest socket wins). */
  bind(site: string, visitorId: string, socket: PushSocket): void {
    const m = this.#site(site);
    if (m.peek(visitorId) === socket) return;
    const key = `${site}\u0000${visitorId}`;
    m.set(visitorId, socket);
    let keys = this.#bySocket.get(socket);
    if (keys === undefined) {
      keys = new Set();
      this.#bySocket.set(socket, keys);
    }
    keys.add(key);
  }

  /** Forgets every visitor bound to a closing socket. */
  unbindSocket(socket: PushSocket): void {
    const keys = this.#bySocket.get(socket);
    if (keys === undefined) return;
    for (const key of [...keys]) {
      const sep = key.indexOf('\u0000');
      const m = this.#sites.get(key.slice(0, sep));
      const visitorId = key.slice(sep + 1);
      if (m?.peek(visitorId) === socket) m.delete(visitorId);
    }
    this.#bySocket.delete(socket);
  }

  /** Sends to the visitor's socket; false when the visitor has none (or sending failed). */
  send(site: string, visitorId: string, message: string): boolean {
    const socket = this.#sites.get(site)?.get(visitorId);
    if (socket === undefined) return false;
    try {
      socket.send(message);
      return true;
    } catch {
      return false;
    }
  }

  /** Bindings held, count. */
  get size(): number {
    let n = 0;
    for (const m of this.#sites.values()) n += m.size;
    return n;
  }

  #unlink(socket: PushSocket, key: string): void {
    const keys = this.#bySocket.get(socket);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#bySocket.delete(socket);
  }
}
