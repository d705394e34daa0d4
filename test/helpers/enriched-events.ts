import type { EnrichedEvent, SessionContext } from '../../src/events/enriched-event';
import type { ClickTarget, CollectEvent, LineItem, ViewedProduct } from '../../src/events/event-types';
import type { EpochMillis, SiteId, VisitorId } from '../../src/types';

/**
 * Builds enriched events for unit tests of the pipeline and processors (what the gateway hands over
 * after validation). The page key is the URL path.
 */
let seq = 0;
const NO_SESSION: SessionContext = Object.freeze({
  id: '' as SessionContext['id'],
  start: 0 as EpochMillis,
  isNew: false,
  prevPage: undefined,
  nextPage: undefined,
  nextPageTs: NaN as EpochMillis,
  pageIndex: -1,
  returningVisitor: false,
});

export interface EventOpts {
  site?: string;
  sessionId?: string;
  partition?: number;
  id?: string;
}

function wrap(ev: CollectEvent, page: string, o: EventOpts): EnrichedEvent {
  return {
    site: (o.site ?? 'demo') as SiteId,
    id: ev.id,
    type: ev.type,
    visitorId: ev.visitorId as VisitorId,
    ts: ev.ts as EpochMillis,
    receivedAt: ev.ts as EpochMillis, seq: 0,
    partition: o.partition ?? 0,
    page,
    bot: false,
    event: ev,
    session: NO_SESSION,
  };
}

export function pageView(visitorId: string, ts: number, page: string, extra: { product?: ViewedProduct; ads?: string[] } & EventOpts = {}): EnrichedEvent {
  const ev: CollectEvent = { id: extra.id ?? `e${++seq}`, type: 'page_view', visitorId, ts, url: `https://shop.test${page}` };
  if (extra.sessionId !== undefined) ev.sessionId = extra.sessionId;
  if (extra.product !== undefined) ev.product = extra.product;
  if (extra.ads !== undefined) ev.ads = extra.ads;
  return wrap(ev, page, extra);
}

export function click(visitorId: string, ts: number, target: ClickTarget, extra: EventOpts & { page?: string } = {}): EnrichedEvent {
  const page = extra.page ?? '/';
  const ev: CollectEvent = { id: extra.id ?? `e${++seq}`, type: 'click', visitorId, ts, url: `https://shop.test${page}`, target };
  if (extra.sessionId !== undefined) ev.sessionId = extra.sessionId;
  return wrap(ev, page, extra);
}

export function form(
  visitorId: string,
  ts: number,
  formId: string,
  action: 'view' | 'start' | 'field' | 'error' | 'submit' | 'abandon',
  extra: EventOpts & { field?: string; items?: LineItem[]; page?: string } = {},
): EnrichedEvent {
  const page = extra.page ?? '/checkout';
  const ev: CollectEvent = { id: extra.id ?? `e${++seq}`, type: 'form', visitorId, ts, url: `https://shop.test${page}`, formId, action };
  if (extra.sessionId !== undefined) ev.sessionId = extra.sessionId;
  if (extra.field !== undefined) ev.field = extra.field;
  if (extra.items !== undefined) ev.items = extra.items;
  return wrap(ev, page, extra);
}
