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

/** The site an event belongs to (the `SiteId` column of otel_logs; spans keep it in their attributes). */
export const ATTR_SITE_ID = 'site.id';
/** OpenTelemetry GenAI conventions: the operation a span records, the tool it ran, the conversation, the data source searched. */
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_TOOL_NAME = 'gen_ai.tool.name';
export const ATTR_GEN_AI_CONVERSATION_ID = 'gen_ai.conversation.id';
export const ATTR_GEN_AI_DATA_SOURCE_ID = 'gen_ai.data_source.id';
/** `gen_ai.operation.name` of a tool call's span and of a knowledge-base search's span; the catalog counts both forms. */
export const GEN_AI_OPERATION_EXECUTE_TOOL = 'execute_tool';
export const GEN_AI_OPERATION_RETRIEVAL = 'retrieval';
/** OpenTelemetry's class of an error (`_OTHER` when none fits). */
export const ATTR_ERROR_TYPE = 'error.type';
