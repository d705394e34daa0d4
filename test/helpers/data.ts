import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

/**
 * The real third-party data sets stay in ../shared/data (never copied into the project), or in the
 * directory named by CM_DATA_DIR. Without them, data tests skip with a message naming the missing
 * file — except under CM_REQUIRE_DATA=1 (set by .ci/run), where they fail, so CI cannot pass
 * without the real-data suite.
 */
const here = dirname(fileURLToPath(import.meta.url));
export const DATA_DIR = process.env['CM_DATA_DIR'] ?? resolve(here, '..', '..', '..', 'shared', 'data');
export const REQUIRE_DATA = process.env['CM_REQUIRE_DATA'] === '1';

/** The path of a data file, or undefined when it is absent. */
export function dataFile(name: string): string | undefined {
  const p = join(DATA_DIR, name);
  return existsSync(p) ? p : undefined;
}

/** `describe` over a data file: skipped (or failing under CM_REQUIRE_DATA=1) when it is missing. */
export function describeWithData(name: string, title: string, fn: (path: string) => void): void {
  const path = dataFile(name);
  if (path !== undefined) {
    describe(title, () => fn(path));
    return;
  }
  const why = `missing data file ${join(DATA_DIR, name)} (set CM_DATA_DIR or provide ../shared/data)`;
  if (REQUIRE_DATA) {
    describe(title, () => {
      it('requires its data file', () => {
        throw new Error(why);
      });
    });
  } else {
    describe.skipIf(true)(`${title} — skipped: ${why}`, () => {
      it('needs its data file', () => undefined);
    });
  }
}
