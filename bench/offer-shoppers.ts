/**
 * What the offer benches share (not a bench itself: `npm run bench` runs `*.bench.ts` only): batch
 * frames, shoppers that prove their visitor id with a key, a WebSocket opener, and the baskets that
 * make the rule A ⇒ B.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { provenVisitorOf } from '../src/ingest/collect-gateway';

/** A collect batch frame; `vk` proves the visitor (the socket then gets its offers). */
export function frame(seq: number, events: unknown[], vk?: string): string {
  return JSON.stringify({ type: 'batch', seq, sentAt: Date.now(), ...(vk === undefined ? {} : { vk }), events });
}

/**
 * A fresh shopper as the snippet makes one: a random visitor key and the id it proves (a socket gets
 * a visitor's offers only once a batch proved that visitor with its key).
 */
export function shopper(): { vk: string; visitorId: string } {
  const vk = randomBytes(16).toString('hex');
  return { vk, visitorId: provenVisitorOf(vk) };
}

export function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends the purchases that make A ⇒ B a rule (40 × {A,B}, 40 × {C,D}, 20 × {A,C}: lift 5/3) and waits for their ack. */
export async function seedRules(base: string): Promise<void> {
  const seeder = await open(`${base}/v1/collect?site=demo`);
  const baskets = [...Array.from({ length: 40 }, () => ['A', 'B']), ...Array.from({ length: 40 }, () => ['C', 'D']), ...Array.from({ length: 20 }, () => ['A', 'C'])];
  const now = Date.now();
  seeder.send(frame(1, baskets.map((items, i) => ({ id: `seed-${i}`, type: 'form', visitorId: `buyer-${i}`, ts: now - 1000 + i, url: 'https://shop.example/checkout', formId: 'checkout', action: 'submit', items: items.map((productId) => ({ productId, quantity: 1, price: 10 })) }))));
  await new Promise((r) => seeder.once('message', r));
  seeder.close();
}
