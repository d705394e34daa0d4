import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildSnippet } from '../../../src/snippet/build-snippet';

/** Issue 5: the snippet shops paste must stay small. 6 KB = 6 × 1024 bytes, gzip at its default level (what servers send). */
const MAX_GZIPPED_BYTES = 6 * 1024;

describe('snippet bundle', () => {
  it('snippet - bundles to a self-contained minified IIFE', async () => {
    const js = await buildSnippet();
    expect(js.length).toBeGreaterThan(1000);
    expect(js).not.toMatch(/^\s*(import|export)\s/m);
    expect(js).not.toMatch(/\brequire\(/);
    // The IIFE leaves nothing in the page's global scope except `cm`, which it assigns on window.
    expect(js.trimStart().startsWith('(()=>{') || js.trimStart().startsWith('"use strict";(()=>{')).toBe(true);
  });

  it('snippet - is at most 6 KB gzipped', async () => {
    const js = await buildSnippet();
    const gz = gzipSync(Buffer.from(js, 'utf8')).length;
    expect(gz).toBeLessThanOrEqual(MAX_GZIPPED_BYTES);
  });

  it('snippet - never reads a form field value (no `.value` access anywhere in the bundle)', async () => {
    // Property names survive minification, so any read of a field's value would show up here.
    const js = await buildSnippet();
    expect(js).not.toMatch(/\.value\b/);
    expect(js).not.toMatch(/\[\s*["']value["']\s*\]/);
    expect(js).not.toMatch(/FormData/);
  });
});
