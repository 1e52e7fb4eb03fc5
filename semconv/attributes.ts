/**
 * Attribute keys Signalhouse reads from OTLP records to fill its own columns. OpenTelemetry semantic
 * conventions where one exists (`session.id`, `user.id`, `log.record.uid`), Signalhouse names otherwise.
 */

export const ATTR_EVENT_ID = 'log.record.uid';
export const ATTR_EVENT_ID_ALT = 'event.id';
export const ATTR_SESSION_ID = 'session.id';
export const ATTR_USER_ID = 'user.id';
/** Deprecated OTel name for the end user, still emitted by older instrumentations. */
export const ATTR_USER_ID_LEGACY = 'enduser.id';
export const ATTR_ANONYMOUS_ID = 'anonymous.id';
export const ATTR_SERVICE_NAME = 'service.name';
/** Resource attributes that name a tenant; a value other than the key's tenant is refused. */
export const TENANT_ATTRIBUTES = ['signalhouse.tenant.id', 'tenant.id'] as const;

type AttributeMap = Readonly<Record<string, string>>;

/** Identity columns from record attributes, falling back to resource attributes. */
export function identityFromAttributes(
  record: AttributeMap,
  resource: AttributeMap,
): { eventId: string; sessionId: string; userId: string; anonymousId: string } {
  return {
    eventId: record[ATTR_EVENT_ID] ?? record[ATTR_EVENT_ID_ALT] ?? '',
    sessionId: record[ATTR_SESSION_ID] ?? resource[ATTR_SESSION_ID] ?? '',
    userId: record[ATTR_USER_ID] ?? record[ATTR_USER_ID_LEGACY] ?? resource[ATTR_USER_ID] ?? resource[ATTR_USER_ID_LEGACY] ?? '',
    anonymousId: record[ATTR_ANONYMOUS_ID] ?? resource[ATTR_ANONYMOUS_ID] ?? '',
  };
}
