import { Registry } from 'prom-client';
import type { Processor } from '../../processors/processor';
import { defaultViews } from '../../processors/site-processors';
import { ManualClock } from '../../src/clock';
import type { Config, SiteConfig } from '../../src/config';
import type { EnrichedEvent } from '../../src/events/enriched-event';
import { createLogger } from '../../src/logger';
import { createCoreMetrics } from '../../src/metrics/core-metrics';
import { Pipeline } from '../../src/pipeline/pipeline';

/**
 * Runs events through a quiet pipeline (manual clock, silent logger, its own registry) in chunks of
 * `chunk`, then writes a tick record two hours past the newest event: every session closes and no
 * pane expires. For the real-data tests of one processor against a brute force.
 */
export function replayThroughPipeline(config: Config, processorsFor: (site: SiteConfig, partition: number) => Processor[], events: readonly EnrichedEvent[], chunk: number): Pipeline {
  const clock = new ManualClock(events[0]?.ts ?? 0);
  const pipeline = new Pipeline({ config, clock, metrics: createCoreMetrics(new Registry(), { defaultMetrics: false }), logger: createLogger('silent'), processorsFor, viewsFor: defaultViews });
  for (let i = 0; i < events.length; i += chunk) pipeline.processNow(events.slice(i, i + chunk));
  clock.set(events.reduce((m, e) => Math.max(m, e.ts), 0) + 2 * 3_600_000);
  pipeline.tick();
  return pipeline;
}
