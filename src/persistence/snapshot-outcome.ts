import type { Clock } from '../clock';
import type { CoreMetrics } from '../metrics/core-metrics';

/**
 * Records how a snapshot write ended — the same metrics for the embedded state file and the Object
 * Store: outcome, size, duration from `t0` (when the cut was taken) and the last success. A failure
 * goes to `onFailure` (the caller logs it with its own context); the returned promise never rejects.
 */
export function recordSnapshotWrite(write: Promise<number>, t0: number, metrics: CoreMetrics, clock: Clock, onFailure: (err: unknown) => void): Promise<void> {
  return write.then(
    (bytes) => {
      metrics.snapshots.inc({ outcome: 'ok' });
      metrics.snapshotBytes.set(bytes);
      metrics.snapshotDuration.set(Math.max(0, clock.now() - t0) / 1000);
      metrics.snapshotLastSuccess.set(t0 / 1000);
    },
    (err: unknown) => {
      metrics.snapshots.inc({ outcome: 'failed' });
      onFailure(err);
    },
  );
}
