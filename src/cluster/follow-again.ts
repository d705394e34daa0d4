/**
 * Runs `follow` (read a consumer or a KV watch to its end) for as long as `stopped()` is false, again
 * after each loss (a server restarted, missed heartbeats, a consumer deleted), pausing `pauseMs`
 * between tries; `lost` hears each failure with how many came before it (to throttle its logging).
 */
export async function followAgain(stopped: () => boolean, follow: () => Promise<void>, lost: (err: unknown, failures: number) => void, pauseMs: number): Promise<void> {
  let failures = 0;
  while (!stopped()) {
    try {
      await follow();
    } catch (err) {
      if (!stopped()) lost(err, failures++);
    }
    if (!stopped()) await new Promise((r) => setTimeout(r, pauseMs));
  }
}
