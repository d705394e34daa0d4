/**
 * Creating a replicated stream or bucket right after a JetStream cluster formed (or while it elects a
 * meta leader) fails with "no suitable peers for placement" or a timeout until the peers are known.
 * Those are tried again for a bounded time; any other error, or the last one, is thrown.
 */
const TRANSIENT = /no suitable peers|insufficient resources|timeout|jetstream system temporarily unavailable/i;

export async function whenPlaced<T>(create: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await create();
    } catch (err) {
      if (!TRANSIENT.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
