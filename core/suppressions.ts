/**
 * Ids whose further events are not stored: the people an erasure with `suppress` removed. Filled at start from
 * the privacy jobs and by every new erasure; the suppress processor looks events up in it. A tenant without
 * suppressed ids costs one Map lookup per batch, one with them two Set lookups per event.
 */
export interface SuppressedIds {
  readonly userIds: ReadonlySet<string>;
  readonly anonymousIds: ReadonlySet<string>;
}

export interface SuppressionList {
  /** The tenant's suppressed ids, or undefined when it has none. */
  of(tenantId: string): SuppressedIds | undefined;
  add(tenantId: string, userIds: Iterable<string>, anonymousIds: Iterable<string>): void;
}

export function createSuppressionList(): SuppressionList {
  const byTenant = new Map<string, { userIds: Set<string>; anonymousIds: Set<string> }>();
  return {
    of: (tenantId) => byTenant.get(tenantId),
    add(tenantId, userIds, anonymousIds) {
      let ids = byTenant.get(tenantId);
      if (!ids) byTenant.set(tenantId, (ids = { userIds: new Set(), anonymousIds: new Set() }));
      for (const id of userIds) if (id !== '') ids.userIds.add(id);
      for (const id of anonymousIds) if (id !== '') ids.anonymousIds.add(id);
    },
  };
}

/**
 * Whether an event belongs to a suppressed person, as queries attribute events to people: by its user id, or by
 * its anonymous id when it has no user id (an event naming another user is that user's).
 */
export function isSuppressed(ids: SuppressedIds, userId: string, anonymousId: string): boolean {
  return userId !== '' ? ids.userIds.has(userId) : anonymousId !== '' && ids.anonymousIds.has(anonymousId);
}
