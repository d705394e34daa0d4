import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES_FILE, generateEventTypes } from '../../../src/scripts/gen-event-types';

describe('event types', () => {
  it('event types - src/events/event-types.ts is exactly what schemas/ generate (run `npm run gen:types` on drift)', async () => {
    const committed = readFileSync(EVENT_TYPES_FILE, 'utf8');
    expect(committed).toBe(await generateEventTypes());
  });
});
