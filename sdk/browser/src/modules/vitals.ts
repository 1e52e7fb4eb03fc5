/**
 * Web vitals through Google's `web-vitals`: LCP, CLS, INP, FCP and TTFB as `browser.web_vital` events with the
 * OpenTelemetry attribute names (`browser.web_vital.name`, lower case as the conventions list them, `.value`,
 * `.delta`, `.id`, `.rating`, `.navigation_type`).
 */
import { type Metric, onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals';
import type { ModuleHost } from '../types.ts';

export function install(host: ModuleHost): void {
  const report = (m: Metric) =>
    host.track('browser.web_vital', {
      'browser.web_vital.name': m.name.toLowerCase(),
      'browser.web_vital.value': m.value,
      'browser.web_vital.delta': m.delta,
      'browser.web_vital.id': m.id,
      'browser.web_vital.rating': m.rating,
      'browser.web_vital.navigation_type': m.navigationType,
    });
  for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(report);
}
