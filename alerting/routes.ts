/**
 * The alerting routes. `GET /api/v1/alerts/rules` serves the Prometheus rule file of the configured SLOs, to
 * operators, as `/metrics` is served (no token, no CORS): it holds metric names, SLO names and the tenant ids
 * of per-tenant SLOs. `GET /api/v1/alerts` serves the built-in evaluator's state for the read token's tenant:
 * its SLOs' error ratios and burn rates per window, and its firing and lately resolved alerts.
 */
import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../core/auth.ts';
import { readTenant } from '../query/request.ts';
import type { Evaluator } from './evaluator.ts';

export async function alertRulesRoute(app: FastifyInstance, opts: { rules: string }): Promise<void> {
  app.get('/api/v1/alerts/rules', async (_request, reply) => reply.type('text/yaml; charset=utf-8').send(opts.rules));
}

export async function alertStateRoutes(app: FastifyInstance, opts: { evaluator: Evaluator; auth: Authenticator }): Promise<void> {
  app.get('/api/v1/alerts', async (request) => opts.evaluator.state((await readTenant(opts.auth, request)).id));
}
