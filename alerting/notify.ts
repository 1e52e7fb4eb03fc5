/**
 * Where the built-in evaluator's alerts go. Alertmanager (API v2, `POST /api/v2/alerts`) gets every firing alert
 * on every evaluation, as Prometheus sends them: each with an `endsAt` a few evaluations ahead, so an alert that
 * stops being sent (this process died) resolves by itself, and each resolved alert with its `endsAt` for a while
 * after. A webhook gets the changes only (an alert starts firing, an alert resolves), in Alertmanager's webhook
 * format, so anything that takes Alertmanager's notifications takes these; changes it could not take are sent
 * again on the next evaluations.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { AlertingConfig } from './config.ts';

export interface AlertRecord {
  /** alertname, tenant, slo, severity, the windows, and `evaluator: signalhouse`. */
  readonly labels: Readonly<Record<string, string>>;
  annotations: Record<string, string>;
  state: 'firing' | 'resolved';
  readonly startsAt: string;
  /** When it resolved. */
  endsAt?: string;
  /** The error ratio that made it fire, over its (long) window. */
  value: number;
}

export interface Notifier {
  /** `current`: every firing alert and those resolved lately; `changed`: those that started or resolved now. */
  send(current: readonly AlertRecord[], changed: readonly AlertRecord[], nowMs: number): Promise<void>;
}

/** Changes held for a webhook that does not answer, at most. */
const MAX_PENDING = 1000;

export function createNotifier(config: AlertingConfig, registry: Registry, logger: Logger | undefined): Notifier {
  const sent = new Counter({
    name: 'signalhouse_alerting_notifications_total',
    help: 'Requests of the built-in alert evaluator to Alertmanager and the webhook that succeeded.',
    labelNames: ['receiver'],
    registers: [registry],
  });
  const failed = new Counter({
    name: 'signalhouse_alerting_notification_failures_total',
    help: 'Requests of the built-in alert evaluator to Alertmanager and the webhook that failed.',
    labelNames: ['receiver'],
    registers: [registry],
  });
  for (const receiver of ['alertmanager', 'webhook']) {
    sent.inc({ receiver }, 0);
    failed.inc({ receiver }, 0);
  }
  const failing = new Set<string>();
  let pending: AlertRecord[] = [];

  async function post(receiver: 'alertmanager' | 'webhook', url: string, body: unknown, timeoutMs: number, headers: Record<string, string> = {}) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      sent.inc({ receiver });
      if (failing.delete(receiver)) logger?.info({ receiver }, 'alert notifications delivered again');
      return true;
    } catch (err) {
      failed.inc({ receiver });
      // One line when a receiver starts failing, not one per evaluation.
      if (!failing.has(receiver)) logger?.warn({ receiver, url, err: (err as Error).message }, 'alert notification failed; retrying on the next evaluations');
      failing.add(receiver);
      return false;
    }
  }

  const alertmanagerAlert = (a: AlertRecord, nowMs: number) => ({
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    // Firing: valid for four evaluations, as Prometheus does; resolved: when it resolved.
    endsAt: a.state === 'firing' ? new Date(nowMs + 4 * config.evaluationIntervalMs).toISOString() : a.endsAt,
  });

  const webhookAlert = (a: AlertRecord) => ({
    status: a.state,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    endsAt: a.endsAt ?? '0001-01-01T00:00:00Z',
  });

  return {
    async send(current, changed, nowMs) {
      const am = config.alertmanager;
      if (am && current.length > 0) {
        await post(
          'alertmanager',
          `${am.url}/api/v2/alerts`,
          current.map((a) => alertmanagerAlert(a, nowMs)),
          am.timeoutMs,
        );
      }
      const hook = config.webhook;
      if (!hook) return;
      // Copies: the records change state later, a pending change keeps the state it was.
      pending = [...pending, ...changed.map((a) => ({ ...a }))].slice(-MAX_PENDING);
      for (const status of ['firing', 'resolved'] as const) {
        const alerts = pending.filter((a) => a.state === status);
        if (alerts.length === 0) continue;
        const body = {
          version: '4',
          status,
          receiver: 'signalhouse',
          groupLabels: {},
          commonLabels: {},
          commonAnnotations: {},
          alerts: alerts.map(webhookAlert),
        };
        if (await post('webhook', hook.url, body, hook.timeoutMs, hook.headers)) pending = pending.filter((a) => a.state !== status);
      }
    },
  };
}
