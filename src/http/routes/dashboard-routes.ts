import { sendHtml } from '../html-headers';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../app-context';
import { ClickstreamError } from '../../errors';
import { buildDashboardClient, projectRoot } from '../../snippet/build-snippet';
import type { AdminRoute } from '../admin-routes';
import { browserScript, sendScript, type BrowserScript } from '../browser-assets';
import { DASHBOARD_CSP, renderDashboardPage } from '../dashboard/dashboard-page';
import { routeSchema } from '../route-doc';

/** Processor names a site may run (AppContext.processor), listed by GET /v1/sites. */
const PROCESSOR_NAMES = ['usage', 'navigation', 'content', 'cross-sell', 'next-best-offer'] as const;

/** Browsers revalidate the script after this long, seconds (the ETag makes that a 304). */
const SCRIPT_MAX_AGE_SECONDS = 60;

/** One configured site as GET /v1/sites shows it: never its secret (nor its public key or origins). */
export interface SiteSummary {
  readonly id: string;
  /** IANA time zone of its day windows. */
  readonly timeZone: string;
  /** The processors it runs. */
  readonly processors: readonly string[];
}

/** The dashboard script: bundled from source with esbuild, else the copy `npm run build` left in dist/. */
async function loadDashboardScript(): Promise<BrowserScript> {
  try {
    return browserScript(await buildDashboardClient());
  } catch (err) {
    try {
      return browserScript(await readFile(join(projectRoot(), 'dist', 'dashboard.js'), 'utf8'));
    } catch {
      throw new ClickstreamError('CM_ERR_BROWSER_ASSETS', 'cannot bundle /dashboard.js with esbuild nor read it from dist/', { cause: err });
    }
  }
}

/**
 * The ops/analyst dashboard on the admin port: GET / and GET /dashboard (the page), GET /dashboard.js
 * (its script, bundled on first request and kept), and GET /v1/sites (the site picker's list). The page
 * reads the stats, rules, offers and quarantine APIs on the same origin; it adds no data API of its own.
 */
export const registerDashboardRoutes: AdminRoute = (app: FastifyInstance, ctx: AppContext) => {
  const html = renderDashboardPage();
  // Built on first use, not at boot: an admin port nobody opens a browser on never runs esbuild.
  let script: Promise<BrowserScript> | undefined;

  const page = routeSchema('The ops/analyst dashboard (HTML): live usage, navigation, content, rules, offers and quarantine of a site');
  for (const url of ['/', '/dashboard']) {
    app.get(url, { schema: page }, async (_req, reply) => sendHtml(reply, 200, DASHBOARD_CSP, html));
  }

  app.get('/dashboard.js', { schema: routeSchema("The dashboard page's script (JavaScript)") }, async (req, reply) => {
    script ??= loadDashboardScript();
    let s: BrowserScript;
    try {
      s = await script;
    } catch (err) {
      script = undefined; // try again on the next request (e.g. after `npm run build`)
      ctx.logger.error({ err }, 'dashboard script unavailable');
      return reply.code(500).send({ error: { code: 'dashboard_unavailable', message: 'the dashboard script could not be built or read from dist/' } });
    }
    return sendScript(req, reply, s, SCRIPT_MAX_AGE_SECONDS);
  });

  app.get('/v1/sites', { schema: routeSchema('The configured sites (id, time zone, processors); no secrets') }, async () => {
    const sites: SiteSummary[] = [];
    for (const site of ctx.config.sites.values()) {
      sites.push({ id: site.id, timeZone: site.timeZone, processors: PROCESSOR_NAMES.filter((name) => ctx.processor(site.id, name) !== undefined) });
    }
    // The public port (snippet and collect) is no secret: the dashboard's empty state shows the tag with it.
    return { sites, publicPort: ctx.publicPort?.() ?? ctx.config.port };
  });
};
