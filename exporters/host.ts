/**
 * What the service gives every exporter it creates: telemetry, the logger, and the store (opened once per
 * process from the ClickHouse exporter's options, shared with queries).
 */
import type { ExporterCreateContext } from '../core/components.ts';
import type { Store } from '../storage/store.ts';

export interface ExporterHost extends ExporterCreateContext {
  readonly store: Store;
}
