import { createHash } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildSnippet } from '../../src/snippet/build-snippet';
import { launchChromium } from '../helpers/chromium';
import { FakeCollector, loaderPage } from '../helpers/fake-collector';
import { until } from '../helpers/until';

/**
 * The snippet in real headless Chromium against a scripted collector: the protocol corners the real
 * server only shows under overload (retry, 503, no WebSocket), consent, Do-Not-Track, offers, and the
 * shape of every event (validated with the project's own v1 schemas).
 */
describe('tracking snippet in Chromium (scripted collector)', () => {
  let snippet: string;
  let browser: Browser;
  let collector: FakeCollector;
  let context: BrowserContext;
  let page: Page;
  let origin: string;

  beforeAll(async () => {
    snippet = await buildSnippet();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    collector = new FakeCollector(snippet);
    origin = await collector.start();
    context = await browser.newContext();
    page = await context.newPage();
  });
  afterEach(async () => {
    await context.close();
    await collector.stop();
    expect(collector.invalid).toEqual([]);
  });

  // At-least-once: a page that goes away beacons its queue and the next page resends it; count each id once.
  const byType = (type: string): Array<Record<string, unknown>> => collector.uniqueAckedEvents().filter((e) => e['type'] === type);
  const loaded = (): Promise<unknown> => page.waitForFunction('window.cm && window.cm.loaded === true');
  /** Calls the page's `cm(...)` with JSON-able arguments. */
  const cm = (...args: unknown[]): Promise<unknown> => page.evaluate(`window.cm(...${JSON.stringify(args)})`);

  it('loader - calls queued before the script loads are replayed: init first, then track, and page fields join the first page view', async () => {
    collector.pages.set(
      '/p',
      loaderPage(
        '<p>hello</p>',
        // `track` comes before `init` in the queue: init must still apply first.
        "cm('track', 'click', { target: { kind: 'button', id: 'early' } }); cm('page', { product: { id: 'p-1', category: 'books' } }); cm('init', { site: 'demo' });",
      ),
    );
    await page.goto(origin + '/p?x=1#top');
    const click = await until('the queued click', () => byType('click').find((e) => (e['target'] as { id?: string }).id === 'early'));
    const view = await until('the first page view', () => byType('page_view')[0]);
    expect(view['product']).toEqual({ id: 'p-1', category: 'books' });
    // The fragment is not part of the page URL.
    expect(view['url']).toBe(origin + '/p?x=1');
    expect(view['title']).toBe('Test page');
    expect(click['visitorId']).toBe(view['visitorId']);
    expect(String(view['visitorId'])).toMatch(/^[0-9a-f]{32}$/);
    expect(view['sessionId']).toEqual(click['sessionId']);
    const cookies = await context.cookies();
    // The visitor id is the SHA-256 of the visitor key the browser keeps (computed here by node:crypto).
    const vk = cookies.find((c) => c.name === 'cm_vk')?.value ?? '';
    expect(vk).toMatch(/^[0-9a-f]{32}$/);
    expect(createHash('sha256').update(vk).digest('hex').slice(0, 32)).toBe(view['visitorId']);
  });

  it('page views - product, search with result count and ad impressions from data attributes; SPA route changes with the previous URL as referrer', async () => {
    collector.pages.set(
      '/shop',
      loaderPage(`<section data-cm-page-product="dune" data-cm-category="sci-fi-books" data-cm-price="14.99"></section>
<p data-cm-search-results="7">7 results</p><div data-cm-ad="banner-1">ad</div><div data-cm-ad="banner-2">ad</div><div data-cm-ad="banner-1">again</div>`,
        // Wrongly typed or unknown settings are ignored: the search parameter stays 'q'.
        "cm('init', { site: 'demo', searchParam: 42, bogus: true });",
      ),
    );
    await page.goto(origin + '/shop?q=%20space%20opera%20');
    await loaded();
    const first = await until('the page view', () => byType('page_view')[0]);
    expect(first['product']).toEqual({ id: 'dune', category: 'sci-fi-books', price: 14.99 });
    expect(first['search']).toEqual({ query: 'space opera', results: 7 });
    expect(first['ads']).toEqual(['banner-1', 'banner-2']);

    await page.evaluate(`document.body.innerHTML = '<div data-cm-ad="banner-3"></div>'; history.pushState({}, '', '/shop/next')`);
    const second = await until('the SPA page view', () => byType('page_view').find((e) => String(e['url']).endsWith('/shop/next')));
    expect(second['referrer']).toBe(origin + '/shop?q=%20space%20opera%20');
    expect(second['ads']).toEqual(['banner-3']);
    expect(second['product']).toBeUndefined();
    // A hash change is the same page; replaceState to the same URL is no route change; going back is one.
    await page.evaluate(`location.hash = '#reviews'; history.replaceState({}, '', location.href); history.go(-2)`);
    await until('the page view after back', () => byType('page_view').length >= 3 && byType('page_view')[2]);
    const urls = byType('page_view').map((e) => String(e['url']).replace(origin, ''));
    expect(urls.slice(0, 3)).toEqual(['/shop?q=%20space%20opera%20', '/shop/next', '/shop?q=%20space%20opera%20']);
  });

  it('clicks - offers, add-to-cart, ads, products and links are told apart by their data attributes', async () => {
    collector.pages.set(
      '/c',
      loaderPage(`<div data-cm-product="nova"><a id="plink" href="#p">Nova <b id="inner">Console</b></a>
<button id="cart" data-cm-cart="nova">Add to cart</button></div>
<div data-cm-ad="spring"><a id="ad" href="#ad">Spring sale</a></div>
<a id="offer" href="#o" data-cm-offer="off-1" data-cm-trigger="t-9">Take it</a>
<a id="plain" href="#x">Plain link</a><p id="nothing">not tracked</p>`),
    );
    await page.goto(origin + '/c');
    await loaded();
    for (const id of ['#inner', '#cart', '#ad', '#offer', '#plain', '#nothing']) await page.click(id);
    const clicks = await until('5 clicks', () => byType('click').length >= 5 && byType('click'));
    const targets = clicks.map((e) => e['target'] as Record<string, unknown>);
    expect(targets.map((t) => t['kind'])).toEqual(['product', 'button', 'ad', 'offer', 'link']);
    expect(targets[0]).toMatchObject({ kind: 'product', productId: 'nova', href: origin + '/c#p' });
    expect(targets[1]).toMatchObject({ kind: 'button', productId: 'nova', id: 'cart', text: 'Add to cart' });
    expect(targets[2]).toMatchObject({ kind: 'ad', adId: 'spring', href: origin + '/c#ad' });
    expect(targets[3]).toMatchObject({ kind: 'offer', offerId: 'off-1', triggerId: 't-9', id: 'offer' });
    expect(targets[4]).toMatchObject({ kind: 'link', href: origin + '/c#x', text: 'Plain link' });
  });

  it('forms - names only: password, hidden and sensitive fields are never reported; invalid fields, submit items and abandonment on pagehide', async () => {
    const MARK = 'zq-marker-7781';
    collector.pages.set(
      '/f',
      loaderPage(`<form id="signup"><input name="email" type="email" required><input name="password" type="password">
<input name="token" type="hidden" value="${MARK}-hidden"><span data-cm-sensitive><input name="card"></span><input name="iban" data-cm-sensitive>
<input name="nickname"><button id="go">Go</button></form>
<form data-cm-form="buy"><li data-cm-item="dune" data-cm-item-quantity="2" data-cm-item-price="14.99" data-cm-item-category="sci-fi-books"></li>
<li data-cm-item="foundation"></li><button id="buy">Buy</button></form>
<form data-cm-ignore><input name="q" id="q"></form><a id="away" href="/gone">away</a>`),
    );
    collector.pages.set('/gone', loaderPage('gone'));
    await page.goto(origin + '/f');
    await loaded();
    await page.fill('input[name=password]', MARK);
    await page.fill('input[name=card]', MARK);
    await page.fill('input[name=iban]', MARK);
    await page.fill('#q', MARK);
    await page.fill('input[name=email]', `not-an-email ${MARK}`);
    await page.click('#go'); // invalid email: the browser refuses the submit
    await page.fill('input[name=nickname]', MARK);
    await page.evaluate(`document.querySelector('form[data-cm-form=buy]').addEventListener('submit', (e) => e.preventDefault())`);
    await page.click('#buy');
    await page.click('#away');
    await page.waitForURL('**/gone');
    const forms = await until('the abandonment', () => byType('form').some((e) => e['action'] === 'abandon') && byType('form'));
    const signup = forms.filter((e) => e['formId'] === 'signup').map((e) => [e['action'], e['field'] ?? null]);
    expect(signup).toEqual([
      ['view', null],
      ['start', null],
      ['field', 'email'],
      ['error', 'email'],
      ['field', 'nickname'],
      ['abandon', 'nickname'],
    ]);
    const buy = forms.filter((e) => e['formId'] === 'buy');
    expect(buy.map((e) => e['action'])).toEqual(['view', 'submit']);
    expect(buy[1]?.['items']).toEqual([
      { productId: 'dune', quantity: 2, price: 14.99, category: 'sci-fi-books' },
      { productId: 'foundation', quantity: 1 },
    ]);
    // The ignored search form never shows up; no value ever left the page.
    expect(forms.every((e) => e['formId'] !== 'form2')).toBe(true);
    expect(JSON.stringify(collector.batches)).not.toContain(MARK);
  });

  it('transport - a WS retry puts the batch back and the same event ids are resent after the pause', async () => {
    collector.retryNext = 1;
    collector.pages.set('/r', loaderPage('<p>retry</p>'));
    await page.goto(origin + '/r');
    await loaded();
    for (let i = 0; i < 3; i++) await cm('track', 'click', { target: { kind: 'button', id: 'b' + i } });
    await until('the retried batch to be acked', () => {
      const retried = collector.batches.find((b) => b.answer === 'retry');
      const acked = collector.ackedIds();
      return retried !== undefined && retried.events.every((e) => acked.has(String(e['id'])));
    });
    const retried = collector.batches.find((b) => b.answer === 'retry');
    expect(retried?.events.length).toBeGreaterThan(0);
    await until('the 3 clicks', () => byType('click').length >= 3);
    // Each event acknowledged once: nothing was duplicated by the retry.
    const ids = collector.ackedEvents().map((e) => e['id']);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('transport - a dropped socket is reopened and what was tracked meanwhile is delivered on it', async () => {
    collector.pages.set('/w', loaderPage('<p>reconnect</p>'));
    await page.goto(origin + '/w');
    await until('the first socket and page view', () => collector.openSockets === 1 && byType('page_view').length === 1);
    collector.dropSockets();
    for (let i = 0; i < 3; i++) await cm('track', 'click', { target: { kind: 'button', id: 'gap' + i } });
    await until('the clicks after reconnecting', () => byType('click').length === 3);
    expect(collector.connections).toBe(2);
    // One reconnect is below the HTTP fallback threshold (two failures): the clicks came on the new socket.
    const clickBatches = collector.batches.filter((b) => b.answer === 'ack' && b.events.some((e) => e['type'] === 'click'));
    expect(clickBatches.map((b) => b.via)).toEqual(clickBatches.map(() => 'ws'));
  });

  it('transport - without a WebSocket it falls back to HTTP POST and honours 503 Retry-After', async () => {
    collector.refuseWebSockets = true;
    collector.http503Next = 1;
    collector.pages.set('/h', loaderPage('<p>http</p>'));
    await page.goto(origin + '/h');
    await loaded();
    const view = await until('the page view over HTTP', () => byType('page_view')[0]);
    const refused = collector.batches.find((b) => b.answer === '503');
    expect(refused?.via).toBe('http');
    expect(refused?.events.map((e) => e['id'])).toContain(view['id']);
    expect(collector.batches.filter((b) => b.answer === 'ack').every((b) => b.via === 'http')).toBe(true);
  });

  it('offers - an offer pushed on the collect socket reaches every cm("onOffer") handler, once per trigger id', async () => {
    collector.pages.set(
      '/o',
      loaderPage('<p>offers</p>', "cm('init', { site: 'demo' }); window.got = []; cm('onOffer', function (o) { window.got.push(o); }); cm('onOffer', function () { throw new Error('broken handler'); }); cm('onOffer', function (o) { window.got.push(o.offerId); });"),
    );
    await page.goto(origin + '/o');
    await until('a collect socket', () => collector.openSockets > 0 && byType('page_view').length > 0);
    const offer = { type: 'offer', triggerId: 't-1', offerId: 'demo-recommend', text: '10 % off Dune', because: { rule: { antecedent: ['neon-drift'], consequent: ['dune'], lift: 4.2 } } };
    expect(collector.push(offer)).toBe(1);
    // Delivery is at least once: the same trigger again is dropped; another trigger is not.
    collector.push(offer);
    collector.push({ ...offer, triggerId: 't-2', offerId: 'second' });
    const got = await until('both offers in the page', async () => {
      const g = (await page.evaluate('window.got')) as unknown[];
      return g.includes('second') && g;
    });
    expect(got).toEqual([offer, 'demo-recommend', { ...offer, triggerId: 't-2', offerId: 'second' }, 'second']);
  });

  it('consent - with consent required nothing is stored or sent until cm("consent", true); withdrawing it forgets the visitor', async () => {
    collector.pages.set(
      '/k',
      loaderPage('<p>consent</p>', "cm('init', { site: 'demo', requireConsent: true }); cm('track', 'click', { target: { kind: 'button', id: 'before-consent' } });"),
    );
    await page.goto(origin + '/k');
    await loaded();
    expect((await context.cookies()).find((c) => c.name === 'cm_vk')).toBeUndefined();
    expect(await page.evaluate(`Object.keys(localStorage).filter((k) => k !== 'cm_consent')`)).toEqual([]);
    await cm('consent', true);
    const view = await until('the page view after consent', () => byType('page_view')[0]);
    expect(byType('click').find((e) => (e['target'] as { id?: string }).id === 'before-consent')).toBeUndefined();

    await cm('consent', false);
    await cm('track', 'click', { target: { kind: 'button', id: 'after-withdrawal' } });
    expect((await context.cookies()).find((c) => c.name === 'cm_vk')).toBeUndefined();
    expect(await page.evaluate(`localStorage.getItem('cm_vk')`)).toBeNull();
    await cm('consent', true);
    const again = await until('the page view after renewed consent', () => byType('page_view')[1]);
    expect(again['visitorId']).not.toBe(view['visitorId']);
    expect(byType('click').find((e) => (e['target'] as { id?: string }).id === 'after-withdrawal')).toBeUndefined();
  });

  it('consent - Do-Not-Track stops tracking unless the visitor consents explicitly', async () => {
    await context.addInitScript(`Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' })`);
    collector.pages.set('/d', loaderPage('<p>dnt</p>', "cm('init', { site: 'demo' }); cm('track', 'click', { target: { kind: 'button', id: 'dnt' } });"));
    await page.goto(origin + '/d');
    await loaded();
    expect((await context.cookies()).find((c) => c.name === 'cm_vk')).toBeUndefined();
    await cm('consent', true);
    await until('the page view after consent', () => byType('page_view')[0]);
    expect(byType('click')).toEqual([]);
  });

  it('unload - events queued when the page goes away are all delivered (beacon, then resend from the persisted queue)', async () => {
    collector.pages.set('/u', loaderPage('<p>unload</p>'));
    collector.pages.set('/next', loaderPage('<p>next</p>'));
    await page.goto(origin + '/u');
    await loaded();
    // All in one turn of the page's event loop: the batch delay has not passed when the page goes.
    const ids = (await page.evaluate(`(() => {
      for (let i = 0; i < 12; i++) window.cm('track', 'click', { target: { kind: 'button', id: 'u' + i } });
      return JSON.parse(localStorage.getItem('cm_q_demo') || '[]').map((e) => e.id);
    })()`)) as string[];
    expect(ids.length).toBeGreaterThanOrEqual(12);
    await page.goto(origin + '/next');
    await until('every queued event', () => ids.every((id) => collector.ackedIds().has(id)));
  });
});
