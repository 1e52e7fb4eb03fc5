/**
 * The `alerting` section: SLOs validated against the metric catalog and the tenants, every problem by its path at
 * once, the service refusing to start on any of them, and the default signalhouse.yaml's example SLOs.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../core/config.ts';
import { createService } from '../service/service.ts';
import { DEFAULT_BURN_RATES, parseAlertingConfig } from './config.ts';

const TENANTS = ['acme', 'globex'];

function problems(raw: unknown): readonly string[] {
  try {
    parseAlertingConfig(raw, TENANTS);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('SLOs', () => {
  it('reports every problem of every SLO by its path', () => {
    const found = problems({
      slos: [
        { name: 'a', metric: 'voice.first_response_ms.p42', threshold: 800 },
        { name: 'b', metric: 'voice.barge_in_count', objective: 0.9 },
        { name: 'c', metric: 'voice.first_response_ms.p99' },
        { name: 'd', metric: 'ai.tool_calls.success_rate', threshold: '800ms' },
        { name: 'e', metric: 'kb.hit_rate', tenants: ['acme', 'initech', 'acme'] },
        { name: 'a', metric: 'kb.search_latency_ms.p95', threshold: 150, window: '1h' },
      ],
    });
    expect(found).toEqual([
      expect.stringMatching(
        /^alerting\.slos\.0\.metric: unknown metric "voice\.first_response_ms\.p42" \(SLOs take voice\.first_response_ms\.p50, .*kb\.hit_rate/,
      ),
      expect.stringMatching(/^alerting\.slos\.1\.metric: "voice\.barge_in_count" is not a per-record latency or ratio/),
      'alerting.slos.2.threshold: required for a latency metric (e.g. 800ms)',
      'alerting.slos.3.threshold: only latency metrics take a threshold',
      'alerting.slos.3.objective: required for a ratio metric (at least this share, e.g. 0.98)',
      'alerting.slos.4.objective: required for a ratio metric (at least this share, e.g. 0.98)',
      'alerting.slos.4.tenants.1: unknown tenant "initech" (tenants: acme, globex)',
      'alerting.slos.4.tenants.2: "acme" is listed twice',
      'alerting.slos.5.name: duplicate SLO name "a"',
      'alerting.slos.5.window: must be at least the longest burn-rate window (3d)',
    ]);
  });

  it('reports shape problems by path: names, objectives, durations, burn rates, URLs, unknown keys', () => {
    const found = problems({
      evaluation_interval: 'soon',
      burn_rates: [{ long: '5m', short: '1h', factor: 2, severity: 'urgent' }],
      alertmanager: { url: 'ftp://am' },
      surprise: true,
      slos: [{ name: 'Voice SLO', metric: 'voice.first_response_ms.p99', threshold: 800, objective: 1 }],
    });
    expect(found).toEqual(
      expect.arrayContaining([
        'alerting.evaluation_interval: invalid duration "soon" (use e.g. "250ms", "5s", "2h", "90d")',
        expect.stringMatching(/^alerting\.burn_rates\.0\.severity: /),
        expect.stringMatching(/^alerting\.alertmanager\.url: /),
        expect.stringMatching(/^alerting: Unrecognized key: "surprise"/),
        expect.stringMatching(/^alerting\.slos\.0\.name: lowercase letters/),
        'alerting.slos.0.objective: must be below 1 (100% leaves no error budget)',
      ]),
    );
    expect(problems({ burn_rates: [{ long: '5m', short: '1h', factor: 2, severity: 'page' }] })).toEqual([
      'alerting.burn_rates.0.short: must be shorter than long',
    ]);
  });

  it('resolves objectives: a latency SLO defaults to its percentile; a lower-is-better ratio promises at most its objective bad', () => {
    const c = parseAlertingConfig(
      {
        slos: [
          { name: 'voice', metric: 'voice.first_response_ms.p99', threshold: '0.8s' },
          { name: 'voice-strict', metric: 'voice.first_response_ms.p50', threshold: 300, objective: '99.9%', tenants: ['acme'] },
          { name: 'tools', metric: 'ai.tool_calls.success_rate', objective: 0.98 },
          { name: 'errors', metric: 'system.error_rate', objective: 0.01 },
        ],
      },
      TENANTS,
    );
    expect(c.slos.map((s) => [s.name, s.sli.id, s.threshold, s.objective, s.tenants])).toEqual([
      ['voice', 'voice_first_response', 800, 0.99, undefined],
      ['voice-strict', 'voice_first_response', 300, 0.999, ['acme']],
      ['tools', 'ai_tool_calls', undefined, 0.98, undefined],
      ['errors', 'spans', undefined, 0.99, undefined],
    ]);
    expect(c.slos[0].budget).toBeCloseTo(0.01, 12);
    expect(c.slos[0].description).toBe('99% of voice.first_response_ms within 800 ms over 30d');
    expect(c.burnRates).toEqual(DEFAULT_BURN_RATES);
    expect(c.tenantLabelLimit).toBe(200);
    expect(c.evaluationIntervalMs).toBe(60_000);
  });

  it('refuses more per-tenant SLO tenants than the tenant label limit', () => {
    expect(problems({ tenant_label_limit: 1, slos: [{ name: 'x', metric: 'kb.hit_rate', objective: 0.9, tenants: ['acme', 'globex'] }] })).toEqual([
      'alerting.tenant_label_limit: 2 tenants are named by SLOs and always labelled; the limit is 1',
    ]);
  });
});

describe('at start', () => {
  it('the service refuses to start, listing the problems, before it opens the store', async () => {
    const config = parseConfig(
      {
        exporters: { clickhouse: { data_dir: '/nonexistent/never-created' } },
        tenants: [{ id: 'acme', write_keys: ['wk_acme_1234'] }],
        alerting: { slos: [{ name: 'v', metric: 'voice.first_response_ms.p95', tenants: ['globex'] }] },
      },
      {},
    );
    const started = createService(config);
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(
      /alerting\.slos\.0\.threshold: required for a latency metric[\s\S]*alerting\.slos\.0\.tenants\.0: unknown tenant "globex" \(tenants: acme\)/,
    );
  });

  it('the default signalhouse.yaml declares SLOs on the voice, AI tool and knowledge-base metrics', () => {
    const config = loadConfig(join(import.meta.dirname, '..', 'signalhouse.yaml'), {});
    const alerting = parseAlertingConfig(
      config.alerting,
      config.tenants.map((t) => t.id),
    );
    expect(alerting.slos.map((s) => [s.name, s.metric.name])).toEqual([
      ['voice-first-response', 'voice.first_response_ms.p99'],
      ['ai-tool-success', 'ai.tool_calls.success_rate'],
      ['kb-search-latency', 'kb.search_latency_ms.p95'],
    ]);
    expect(alerting.slos.map((s) => s.threshold)).toEqual([800, undefined, 150]);
  });
});
