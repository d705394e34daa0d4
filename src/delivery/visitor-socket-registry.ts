/**
 * Which collect socket a visitor was last seen on, so an offer can be pushed to the visitor's own
 * page (DESIGN.md §6). Bounded: at most `capacity` (site, visitor) bindings, least recently bound
 * evicted first (reported). A socket's bindings are dropped when it closes.
 */
import { LRUCache } from 'lru-cache';
import { requireBound } from '../errors';

/** The part of a WebSocket the registry needs. */
export interface PushSocket {
  send(data: string): void;
}

export class VisitorSocketRegistry {
  readonly #byVisitor: LRUCache<string, PushSocket>;
  /** Reverse index for unbindSocket; its total size never exceeds the LRU's (entries leave with their binding). */
  readonly #bySocket = new Map<PushSocket, Set<string>>();

  constructor(opts: { readonly capacity: number; readonly onEvict: () => void }) {
    const onEvict = opts.onEvict;
    this.#byVisitor = new LRUCache<string, PushSocket>({
      max: requireBound('VisitorSocketRegistry capacity', opts.capacity),
      dispose: (socket, key, reason) => {
        this.#unlink(socket, key);
        if (reason === 'evict') onEvict();
      },
    });
  }

  /** Records that `visitorId` of `site` sends on `socket` (the latest socket wins). */
  bind(site: string, visitorId: string, socket: PushSocket): void {
    const key = `${site}\u0000${visitorId}`;
    if (this.#byVisitor.peek(key) === socket) return;
    this.#byVisitor.set(key, socket);
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
      if (this.#byVisitor.peek(key) === socket) this.#byVisitor.delete(key);
    }
    this.#bySocket.delete(socket);
  }

  /** Sends to the visitor's socket; false when the visitor has none (or sending failed). */
  send(site: string, visitorId: string, message: string): boolean {
    const socket = this.#byVisitor.get(`${site}\u0000${visitorId}`);
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
    return this.#byVisitor.size;
  }

  #unlink(socket: PushSocket, key: string): void {
    const keys = this.#bySocket.get(socket);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.#bySocket.delete(socket);
  }
}
