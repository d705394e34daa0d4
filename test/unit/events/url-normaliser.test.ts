import { describe, expect, it } from 'vitest';
import type { UrlRules } from '../../../src/config';
import { UrlNormaliser } from '../../../src/events/url-normaliser';

const rules: UrlRules = {
  keepParams: ['q', 'page'],
  groups: [
    { pattern: '^/product/[^/]+', as: '/product/:id' },
    { pattern: '^/c/([a-z-]+)/\\d+$', as: '/c/$1/:n' },
    { pattern: '^/p/', as: '/never-reached/' },
  ],
  searchParam: 'q',
};

describe('UrlNormaliser', () => {
  const n = new UrlNormaliser(rules);

  it('urls - scheme and host are stripped, the path kept', () => {
    expect(n.normalise('https://shop.example.com/about')).toBe('/about');
    expect(n.normalise('http://shop.example.com:8080/a/b')).toBe('/a/b');
    expect(n.normalise('//cdn.example.com/x')).toBe('/x');
    expect(n.normalise('https://shop.example.com')).toBe('/');
    expect(n.normalise('https://shop.example.com?q=a')).toBe('/?q=a');
  });

  it('urls - the fragment is dropped and a trailing slash collapses', () => {
    expect(n.normalise('/about/#team')).toBe('/about');
    expect(n.normalise('/about///')).toBe('/about');
    expect(n.normalise('/')).toBe('/');
    expect(n.normalise('')).toBe('/');
    expect(n.normalise('relative/path')).toBe('/relative/path');
  });

  it('urls - the query string is stripped except the kept parameters, sorted', () => {
    expect(n.normalise('/search?utm_source=x&q=shoes&page=2')).toBe('/search?page=2&q=shoes');
    expect(n.normalise('/search?page=2&q=shoes')).toBe('/search?page=2&q=shoes');
    expect(n.normalise('/list?utm_source=mail&fbclid=1')).toBe('/list');
    expect(n.normalise('/search?q=red+shoes')).toBe('/search?q=red%20shoes');
    expect(n.normalise('/search?q=red%20shoes#top')).toBe('/search?q=red%20shoes');
  });

  it('urls - the first matching group pattern rewrites the path', () => {
    expect(n.normalise('https://shop.example.com/product/123?color=red')).toBe('/product/:id');
    expect(n.normalise('/product/abc-9/')).toBe('/product/:id');
    expect(n.normalise('/product/123/reviews')).toBe('/product/:id/reviews');
    expect(n.normalise('/c/books/42')).toBe('/c/books/:n');
    expect(n.normalise('/c/books/x')).toBe('/c/books/x');
    expect(n.normalise('/products')).toBe('/products');
  });

  it('urls - malformed percent-encoding never throws', () => {
    expect(n.normalise('/search?q=%E0%A4%A')).toBe('/search?q=%25E0%25A4%25A');
    expect(UrlNormaliser.param('/search?q=%zz', 'q')).toBe('%zz');
  });

  it('urls - param reads the first occurrence, decoded', () => {
    expect(UrlNormaliser.param('https://s.example/search?x=1&q=red+shoes&q=b#f', 'q')).toBe('red shoes');
    expect(UrlNormaliser.param('/search?q', 'q')).toBe('');
    expect(UrlNormaliser.param('/search', 'q')).toBeUndefined();
    expect(UrlNormaliser.param('/search?x=1#q=2', 'q')).toBeUndefined();
  });

  it('urls - the memo is bounded: a full memo starts over and counts what it dropped', () => {
    const dropped: number[] = [];
    const m = new UrlNormaliser(rules, { memoSize: 3, onEvict: (k) => dropped.push(k) });
    for (const u of ['/a', '/b', '/c', '/a', '/d', '/e']) m.normalise(u);
    expect(dropped).toEqual([3]);
    expect(m.normalise('/d?q=1')).toBe('/d?q=1');
    expect(() => new UrlNormaliser(rules, { memoSize: 0 })).toThrow(/CM_ERR_UNBOUNDED/);
  });
});
