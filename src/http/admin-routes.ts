/**
 * Admin-port route registrars (stats, rules, offers, visitors, dashboard). Each owner appends one
 * line to ADMIN_ROUTES; the admin server calls every registrar once at boot. Routes that declare a
 * fastify `schema` (with `summary`, `querystring`, `response`) appear in /openapi.json.
 */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context';
import { registerUsageRoutes } from './routes/usage-routes';
import { registerOfferRoutes } from './routes/offer-routes';
import { registerNavigationRoutes } from './routes/navigation-routes';
import { registerContentRoutes } from './routes/content-routes';
import { registerRulesRoutes } from './routes/rules-routes';
import { registerDashboardRoutes } from './routes/dashboard-routes';

export type AdminRoute = (app: FastifyInstance, ctx: AppContext) => void;

export const ADMIN_ROUTES: AdminRoute[] = [
  registerUsageRoutes,
  registerOfferRoutes,
  registerNavigationRoutes,
  registerContentRoutes,
  registerRulesRoutes,
  registerDashboardRoutes,
  // e.g. registerUsageStatsRoutes,
];
