/**
 * The helpers: each call emits one OpenTelemetry log record named by the event (`eventName`), with the
 * semantic-convention attributes of `semconv/`, through `@opentelemetry/api-logs`; so any OTel SDK pipeline
 * whose log exporter points at Signalhouse (`/v1/logs`) stores it as that product event.
 *
 * Tool executions and knowledge-base searches can go out as OTel GenAI spans instead (`spans: true`): an
 * `execute_tool` span (status ERROR on failure) and a `retrieval` span. Instead, not as well: the metric catalog
 * counts `ai.tool_call_completed` events and `execute_tool` spans alike (and `kb.search` events and `retrieval`
 * spans), so a call sent in both forms would count twice. Logs are the default because they feed every report
 * (funnels and the query API read events only); spans nest under the caller's trace, and count towards
 * `system.error_rate` (every span with status ERROR).
 */
import { randomUUID } from 'node:crypto';
import { type Context, type Attributes as SpanAttributes, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type LogRecord, logs } from '@opentelemetry/api-logs';
import {
  ATTR_ANONYMOUS_ID,
  ATTR_ERROR_TYPE,
  ATTR_EVENT_ID,
  ATTR_EVENT_ID_ALT,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_DATA_SOURCE_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_SESSION_ID,
  ATTR_SITE_ID,
  ATTR_USER_ID,
  GEN_AI_OPERATION_EXECUTE_TOOL,
  GEN_AI_OPERATION_RETRIEVAL,
} from '../../../semconv/attributes.ts';
import type { AttributeSpec, EventName } from '../../../semconv/event-attributes.ts';
import type { Helper, Signalhouse, SignalhouseOptions, TrackContext, TrackOptions } from './api.ts';
import { addCustomAttributes, DEFAULT_LIMITS, type Limits, Problems, SDK_NAME, valueProblem } from './attributes.ts';
import { FIELD_PLANS, type FieldPlan } from './fields.ts';
import { SDK_VERSION } from './version.ts';

const TEXT: AttributeSpec = { kind: 'text' };
const CONTEXT_PLANS: readonly FieldPlan[] = [
  { field: 'siteId', key: ATTR_SITE_ID, spec: TEXT },
  { field: 'sessionId', key: ATTR_SESSION_ID, spec: TEXT },
  { field: 'userId', key: ATTR_USER_ID, spec: TEXT },
  { field: 'anonymousId', key: ATTR_ANONYMOUS_ID, spec: TEXT },
  { field: 'conversationId', key: ATTR_GEN_AI_CONVERSATION_ID, spec: TEXT },
];
const EVENT_ID_PLAN: FieldPlan = { field: 'eventId', key: ATTR_EVENT_ID, spec: TEXT };
const IDS = new Set([ATTR_SESSION_ID, ATTR_USER_ID, ATTR_ANONYMOUS_ID, ATTR_EVENT_ID]);
/** Keys a caller's custom attributes may not set: the helpers set them from typed fields. */
const HELPER_KEYS = [
  ...CONTEXT_PLANS.map((p) => p.key),
  ATTR_EVENT_ID,
  ATTR_EVENT_ID_ALT,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_DATA_SOURCE_ID,
];
const RESERVED = new Map([...FIELD_PLANS].map(([event, plans]) => [event, new Set([...HELPER_KEYS, ...plans.map((p) => p.key)])]));
const RESERVED_ANY = new Set(HELPER_KEYS);
/** A known event's own keys, which `track` reads from its attributes before the custom ones. */
const EVENT_KEYS = new Map([...FIELD_PLANS].map(([event, plans]) => [event, new Set(plans.map((p) => p.key))]));
const MAX_EVENT_NAME_LENGTH = 1024;
const NO_OPTIONS: TrackOptions = {};
const NO_KEYS: ReadonlySet<string> = new Set();

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isContext = (v: unknown): v is Context => isObject(v) && typeof v.getValue === 'function';

/** A record in the making: attributes checked so far, and the options it was called with. */
interface Draft {
  attributes: Record<string, unknown>;
  count: number;
  options: TrackOptions;
}

export function createSignalhouse(options: SignalhouseOptions = {}): Signalhouse {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const problems = new Problems();
  const logger = options.logger ?? logs.getLogger(SDK_NAME, SDK_VERSION);
  const tracer = options.tracer ?? trace.getTracer(SDK_NAME, SDK_VERSION);
  const spans = options.spans === true;

  const check = (plan: FieldPlan, value: unknown) =>
    valueProblem(plan.spec, value, IDS.has(plan.key) ? Math.min(limits.maxIdLength, limits.maxValueLength) : limits.maxValueLength);

  // Defaults are checked once, here; a call's own values are checked on each call.
  const defaults: Record<string, unknown> = {};
  const defaultAttributes: Record<string, unknown> = {};
  const given = isObject(options.defaults) ? options.defaults : {};
  for (const plan of CONTEXT_PLANS) {
    const value = (given as Record<string, unknown>)[plan.field];
    if (value == null) continue;
    const problem = check(plan, value);
    if (problem) problems.attribute('defaults', plan.key, problem);
    else defaults[plan.field] = value;
  }
  addCustomAttributes(defaultAttributes, 0, given.attributes, RESERVED_ANY, 'defaults', limits, problems);

  /** Checks a call's fields into a draft; undefined (counted) when the record cannot go out. */
  function draft(event: string, plans: readonly FieldPlan[], input: unknown, byKey: boolean, options: unknown): Draft | undefined {
    if (!isObject(input)) return void problems.record(event, 'its input must be an object');
    const opts = isObject(options) ? (options as TrackOptions) : NO_OPTIONS;
    if (options != null && opts === NO_OPTIONS) problems.attribute(event, 'options', 'must be an object');
    const attributes: Record<string, unknown> = {};
    let count = 0;
    for (const plan of plans) {
      const value = input[byKey ? plan.key : plan.field];
      const problem = value == null ? (plan.spec.required ? 'is required' : undefined) : check(plan, value);
      if (value == null && problem === undefined) continue;
      if (problem !== undefined) {
        if (plan.spec.required) return void problems.record(event, `attribute "${plan.key}" ${problem}`);
        problems.attribute(event, plan.key, problem);
        continue;
      }
      attributes[plan.key] = value;
      count++;
    }
    for (const plan of CONTEXT_PLANS) {
      if (Object.hasOwn(attributes, plan.key)) continue;
      const own = opts[plan.field as keyof TrackContext];
      const problem = own == null ? undefined : check(plan, own);
      if (problem) problems.attribute(event, plan.key, problem);
      const value = own != null && !problem ? own : defaults[plan.field];
      if (value === undefined) continue;
      attributes[plan.key] = value;
      count++;
    }
    return { attributes, count, options: opts };
  }

  /** The caller's custom attributes, then the defaults' where the call set none of the same key. */
  function finish(event: string, d: Draft, skip: ReadonlySet<string>, extra?: unknown): void {
    const reserved = RESERVED.get(event) ?? RESERVED_ANY;
    d.count = addCustomAttributes(d.attributes, d.count, d.options.attributes, reserved, event, limits, problems);
    if (extra !== undefined) d.count = addCustomAttributes(d.attributes, d.count, extra, reserved, event, limits, problems, skip);
    for (const key of Object.keys(defaultAttributes)) {
      if (Object.hasOwn(d.attributes, key)) continue;
      if (d.count >= limits.maxAttributes) {
        problems.attribute(event, key, `more than ${limits.maxAttributes} attributes`);
        continue;
      }
      d.attributes[key] = defaultAttributes[key];
      d.count++;
    }
  }

  function timeOf(event: string, opts: TrackOptions): number | undefined {
    const t = opts.timestamp;
    if (t == null) return undefined;
    const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Number.NaN;
    if (Number.isFinite(ms) && ms >= 0) return ms;
    problems.attribute(event, 'timestamp', 'must be a valid Date or milliseconds since the epoch');
    return undefined;
  }

  function contextOf(event: string, opts: TrackOptions): Context | undefined {
    const ctx = opts.context;
    if (ctx == null || isContext(ctx)) return ctx ?? undefined;
    problems.attribute(event, 'context', 'must be an OpenTelemetry Context');
    return undefined;
  }

  /** A log record: its event id first (so no custom attribute can crowd it out), then the custom attributes. */
  function emitLog(event: string, d: Draft, skip: ReadonlySet<string> = NO_KEYS, extra?: unknown): void {
    const id = d.options.eventId;
    const idProblem = id == null ? undefined : check(EVENT_ID_PLAN, id);
    if (idProblem) problems.attribute(event, ATTR_EVENT_ID, idProblem);
    d.attributes[ATTR_EVENT_ID] = id != null && !idProblem ? id : randomUUID();
    d.count++;
    finish(event, d, skip, extra);
    const record: LogRecord = { eventName: event, attributes: d.attributes as LogRecord['attributes'] };
    const time = timeOf(event, d.options);
    if (time !== undefined) record.timestamp = time;
    // Set only when given: the SDK spreads the record over the active context, and an undefined would hide it.
    const ctx = contextOf(event, d.options);
    if (ctx) record.context = ctx;
    logger.emit(record);
    problems.stats.emitted++;
  }

  /** A GenAI span: its operation name (and error type) first, then the custom attributes. */
  function emitSpan(event: string, d: Draft, operation: string, name: string, kind: SpanKind, durationMs: unknown, failed: boolean): void {
    d.attributes[ATTR_GEN_AI_OPERATION_NAME] = operation;
    d.count++;
    if (failed && !Object.hasOwn(d.attributes, ATTR_ERROR_TYPE)) {
      d.attributes[ATTR_ERROR_TYPE] = '_OTHER';
      d.count++;
    }
    finish(event, d, NO_KEYS);
    const end = timeOf(event, d.options) ?? Date.now();
    const start = typeof durationMs === 'number' ? end - durationMs : end;
    const parent = contextOf(event, d.options);
    const span = tracer.startSpan(name, { kind, startTime: start, attributes: d.attributes as SpanAttributes }, parent);
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(end);
    problems.stats.emitted++;
  }

  /** Runs a helper so that nothing it meets, however odd, throws into the caller. */
  const guarded = (event: string, run: () => void) => {
    try {
      run();
    } catch (err) {
      problems.record(event, `failed (${err instanceof Error ? err.name : typeof err})`);
    }
  };

  const eventHelper =
    <E extends EventName>(event: E): Helper<E> =>
    (input, opts) =>
      guarded(event, () => {
        const d = draft(event, FIELD_PLANS.get(event)!, input, false, opts);
        if (d) emitLog(event, d);
      });

  const textExtra = (event: string, d: Draft, key: string, value: unknown) => {
    if (value == null) return undefined;
    const problem = valueProblem(TEXT, value, limits.maxValueLength);
    if (problem) return void problems.attribute(event, key, problem);
    d.attributes[key] = value;
    d.count++;
    return value;
  };

  const withEventId = (opts: TrackOptions | undefined, suffix: string): TrackOptions | undefined =>
    isObject(opts) && typeof opts.eventId === 'string' ? { ...opts, eventId: `${opts.eventId}:${suffix}` } : opts;

  const helpers: Omit<Signalhouse, 'stats'> = {
    trackVoiceMetrics: (metrics, opts) =>
      guarded('voice metrics', () => {
        if (!isObject(metrics)) return problems.record('voice metrics', 'its input must be an object');
        const turnId = metrics.turnId ?? randomUUID();
        if (metrics.firstResponseMs != null)
          helpers.trackFirstResponse({ turnId, firstResponseMs: metrics.firstResponseMs }, withEventId(opts, 'first_response'));
        if (metrics.bargeInMs != null) helpers.trackBargeIn({ turnId, bargeInMs: metrics.bargeInMs }, withEventId(opts, 'barge_in'));
        if (metrics.asrLatencyMs != null) helpers.trackAsrPartial({ asrLatencyMs: metrics.asrLatencyMs }, withEventId(opts, 'asr_partial'));
      }),
    trackToolExecution: (execution, opts) =>
      guarded('ai.tool_call_completed', () => {
        const event = 'ai.tool_call_completed';
        const d = draft(event, FIELD_PLANS.get(event)!, execution, false, opts);
        if (!d) return;
        const failed = d.attributes['ai.tool.success'] === false;
        if (failed) textExtra(event, d, ATTR_ERROR_TYPE, execution.errorType);
        if (!spans) return emitLog(event, d);
        const name = `${GEN_AI_OPERATION_EXECUTE_TOOL} ${d.attributes['gen_ai.tool.name']}`;
        emitSpan(event, d, GEN_AI_OPERATION_EXECUTE_TOOL, name, SpanKind.INTERNAL, d.attributes['ai.tool.duration_ms'], failed);
      }),
    trackKBSearch: (search, opts) =>
      guarded('kb.search', () => {
        const event = 'kb.search';
        const d = draft(event, FIELD_PLANS.get(event)!, search, false, opts);
        if (!d) return;
        const source = textExtra(event, d, ATTR_GEN_AI_DATA_SOURCE_ID, search.dataSourceId);
        if (!spans) return emitLog(event, d);
        const name = source === undefined ? GEN_AI_OPERATION_RETRIEVAL : `${GEN_AI_OPERATION_RETRIEVAL} ${source}`;
        emitSpan(event, d, GEN_AI_OPERATION_RETRIEVAL, name, SpanKind.CLIENT, d.attributes['kb.search_latency_ms'], false);
      }),
    trackTurnStarted: eventHelper('voice.turn_started'),
    trackFirstResponse: eventHelper('voice.first_response'),
    trackBargeIn: eventHelper('voice.barge_in'),
    trackAsrPartial: eventHelper('voice.asr_partial'),
    trackToolCallStarted: eventHelper('ai.tool_call_started'),
    trackToolChainCompleted: eventHelper('ai.tool_chain_completed'),
    trackKBHit: eventHelper('kb.hit'),
    trackCommerceView: eventHelper('commerce.view'),
    trackAddToCart: eventHelper('commerce.add_to_cart'),
    trackCheckout: eventHelper('commerce.checkout'),
    trackSlotHold: eventHelper('booking.slot_hold'),
    trackBookingConfirmed: eventHelper('booking.confirmed'),
    track: (name, attributes, opts) =>
      guarded(typeof name === 'string' ? name : 'track', () => {
        if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME_LENGTH)
          return problems.record('track', `the event name must be a string of 1 to ${MAX_EVENT_NAME_LENGTH} characters`);
        const plans = FIELD_PLANS.get(name) ?? [];
        const d = draft(name, plans, attributes ?? {}, true, opts);
        if (d) emitLog(name, d, EVENT_KEYS.get(name) ?? NO_KEYS, attributes);
      }),
  };
  return { ...helpers, stats: () => ({ ...problems.stats }) };
}
