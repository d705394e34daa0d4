import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PubAckPublisher, PublishError } from '../../../src/log/pub-acks';
import { startNatsServer } from '../../helpers/nats-server';

/**
 * The gateway's publisher against a real nats-server: every answer nats.js's `js.publish` gives
 * (a PubAck, a duplicate, the server's API error, no stream for the subject), a timeout when nothing
 * answers, and a close that fails what is still waiting.
 */
let server: Awaited<ReturnType<typeof startNatsServer>>;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PA_OK', subjects: ['pa.ok.*'], duplicate_window: nanos(60_000) });
  // One message at most, new ones refused: the second publish gets the server's "maximum messages exceeded".
  await jsm.streams.add({ name: 'PA_FULL', subjects: ['pa.full'], max_msgs: 1, discard: 'new' as never });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('resolved'); }, (err: unknown) => err as PublishError);

describe('PubAckPublisher', () => {
  it('resolves each publish with its own PubAck, in the stream order, and flags a repeated Nats-Msg-Id as a duplicate', async () => {
    const pub = new PubAckPublisher(nc);
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publish(`pa.ok.${i % 3}`, `m${i}`, `id-${i}`, 2_000)));
    expect(acks.map((a) => a.stream)).toEqual(Array(50).fill('PA_OK'));
    // Published in order on one connection: stored in order, one sequence each.
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(acks.every((a) => !a.duplicate)).toBe(true);
    const again = await pub.publish('pa.ok.0', 'm0 again', 'id-0', 2_000);
    expect(again).toMatchObject({ stream: 'PA_OK', seq: 1, duplicate: true });
    const info = await (await jetstreamManager(nc)).streams.info('PA_OK');
    expect(info.state.messages).toBe(50);
    expect(pub.pending).toBe(0);
    pub.close();
  });

  it('rejects with the server API error code when the stream refuses, and with no_responders when no stream takes the subject', async () => {
    const pub = new PubAckPublisher(nc);
    await pub.publish('pa.full', 'first', undefined, 2_000);
    const full = await failure(pub.publish('pa.full', 'second', undefined, 2_000));
    expect(full).toBeInstanceOf(PublishError);
    expect(full.failure).toBe('api');
    expect(full.api_error?.err_code).toBe(10077);
    const none = await failure(pub.publish('pa.nowhere', 'x', 'id', 2_000));
    expect(none.failure).toBe('no_responders');
    pub.close();
  });

  it('times out a publish nobody acknowledges, and close fails what is still waiting', async () => {
    // A plain subscriber takes the subject (so the server does not answer no-responders) and never replies.
    const sink = nc.subscribe('pa.silent');
    const pub = new PubAckPublisher(nc);
    const timedOut = await failure(pub.publish('pa.silent', 'x', undefined, 150));
    expect(timedOut.failure).toBe('timeout');
    const waiting = failure(pub.publish('pa.silent', 'y', undefined, 60_000));
    expect(pub.pending).toBe(1);
    pub.close();
    expect((await waiting).failure).toBe('closed');
    expect((await failure(pub.publish('pa.ok.1', 'z', undefined, 2_000))).failure).toBe('closed');
    sink.unsubscribe();
  });
});
