/**
 * The alerting routes. `GET /api/v1/alerts/rules` serves the Prometheus rule file of the configured SLOs, to
 * operators, as `/metrics` is served (no token, no CORS): it holds metric names, SLO names and the tenant ids
 * of per-tenant SLOs.
 */
import type { FastifyInstance } from 'fastify';

export async function alertRulesRoute(app: FastifyInstance, opts: { rules: string }): Promise<void> {
  app.get('/api/v1/alerts/rules', async (_request, reply) => reply.type('text/yaml; charset=utf-8').send(opts.rules));
}
