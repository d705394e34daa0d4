import { describe, expect, it } from 'vitest';
import { VisitorSocketRegistry } from '../../../src/delivery/visitor-socket-registry';

class Sock {
  readonly sent: string[] = [];
  send(d: string): void {
    this.sent.push(d);
  }
}

describe('VisitorSocketRegistry', () => {
  it('visitor sockets - an offer reaches the socket the visitor last sent on, and nobody else', () => {
    const r = new VisitorSocketRegistry({ capacity: 10, onEvict: () => undefined });
    const a = new Sock();
    const b = new Sock();
    r.bind('demo', 'v1', a);
    r.bind('demo', 'v2', b);
    r.bind('demo', 'v1', b);
    expect(r.send('demo', 'v1', 'offer-1')).toBe(true);
    expect(r.send('other', 'v1', 'x')).toBe(false);
    expect(a.sent).toEqual([]);
    expect(b.sent).toEqual(['offer-1']);
  });

  it('visitor sockets - a closed socket loses its visitors', () => {
    const r = new VisitorSocketRegistry({ capacity: 10, onEvict: () => undefined });
    const a = new Sock();
    r.bind('demo', 'v1', a);
    r.bind('demo', 'v2', a);
    r.unbindSocket(a);
    expect(r.send('demo', 'v1', 'x')).toBe(false);
    expect(r.size).toBe(0);
  });

  it('visitor sockets - bounded: the least recently bound visitor is evicted and counted', () => {
    let evicted = 0;
    const r = new VisitorSocketRegistry({ capacity: 2, onEvict: () => evicted++ });
    const a = new Sock();
    for (const v of ['v1', 'v2', 'v3']) r.bind('demo', v, a);
    expect(evicted).toBe(1);
    expect(r.send('demo', 'v1', 'x')).toBe(false);
    expect(r.send('demo', 'v3', 'x')).toBe(true);
  });
});

describe('VisitorSocketRegistry per site', () => {
  it('sockets - one site\'s flood of visitors never evicts another site\'s bindings', () => {
    let evicted = 0;
    const r = new VisitorSocketRegistry({ capacity: 10, onEvict: () => evicted++ });
    const sent: string[] = [];
    const shopSocket = { send: (m: string) => void sent.push(m) };
    r.bind('shop', 'alice', shopSocket);
    for (let i = 0; i < 1_000; i++) r.bind('demo', `bot-${i}`, { send: () => undefined });
    expect(evicted).toBe(990);
    expect(r.send('shop', 'alice', 'offer')).toBe(true);
    expect(sent).toEqual(['offer']);
    expect(r.size).toBe(11);
    r.unbindSocket(shopSocket);
    expect(r.send('shop', 'alice', 'offer')).toBe(false);
  });
});
