/**
 * A person, as the queries count people (query/explore.ts, PERSON): a user id with the anonymous ids whose latest
 * identify or alias link names that user, or an anonymous id linked to no user. Erasure and export resolve the
 * person first, through the identity links, so that stitched ids go with it; an event belongs to the person by
 * its user id, or by its anonymous id when it has no user id (an event naming another user is that user's).
 */
import { ALIAS_EVENT_NAMES, IDENTIFY_EVENT_NAMES } from '../../storage/governance.ts';
import { readRows, type Store } from '../../storage/store.ts';

export interface Person {
  readonly userIds: readonly string[];
  readonly anonymousIds: readonly string[];
}

/** Which person a request names: one of the two ids. */
export type PersonRef = { readonly userId: string; readonly anonymousId?: undefined } | { readonly anonymousId: string; readonly userId?: undefined };

const IDENTITY_EVENTS = [...IDENTIFY_EVENT_NAMES, ...ALIAS_EVENT_NAMES];

/** The tenant's links, anonymous id → the user of its latest identify or alias call (as `linksWith`). */
const latestLinks = (db: string) => `
  SELECT AnonymousId, argMax(UserId, At) AS UserId FROM (
    SELECT if(AnonymousId != '', AnonymousId, LogAttributes['alias.previous_id']) AS AnonymousId, UserId, Timestamp AS At
    FROM ${db}.otel_logs
    WHERE TenantId = {tenant:String} AND EventName IN {identityEvents:Array(String)} AND UserId != ''
  ) WHERE AnonymousId != '' GROUP BY AnonymousId`;

export async function resolvePerson(store: Store, tenantId: string, ref: PersonRef): Promise<Person> {
  const db = store.database;
  const params = { tenant: tenantId, identityEvents: IDENTITY_EVENTS };
  let userId = ref.userId;
  if (userId === undefined) {
    const [linked] = await readRows<{ UserId: string }>(store, `SELECT UserId FROM (${latestLinks(db)}) WHERE AnonymousId = {anon:String}`, {
      ...params,
      anon: ref.anonymousId,
    });
    if (!linked) return { userIds: [], anonymousIds: [ref.anonymousId!] };
    userId = linked.UserId;
  }
  const anons = await readRows<{ AnonymousId: string }>(
    store,
    `SELECT AnonymousId FROM (${latestLinks(db)}) WHERE UserId = {user:String} ORDER BY AnonymousId`,
    {
      ...params,
      user: userId,
    },
  );
  const anonymousIds = anons.map((r) => r.AnonymousId);
  if (ref.anonymousId !== undefined && !anonymousIds.includes(ref.anonymousId)) anonymousIds.push(ref.anonymousId);
  return { userIds: [userId], anonymousIds };
}

/** The union of two resolutions of one person (a resumed job keeps what it found before its deletes). */
export function unionPerson(a: Person, b: Person): Person {
  return { userIds: [...new Set([...a.userIds, ...b.userIds])], anonymousIds: [...new Set([...a.anonymousIds, ...b.anonymousIds])] };
}

/**
 * The rows of a person in an event table (`otel_logs`, `otel_traces`), with `{tenant}`, `{users}` and `{anons}`
 * bound by `personParams`.
 */
export const PERSON_ROWS = "TenantId = {tenant:String} AND (UserId IN {users:Array(String)} OR (UserId = '' AND AnonymousId IN {anons:Array(String)}))";

export function personParams(tenantId: string, person: Person): Record<string, unknown> {
  return { tenant: tenantId, users: person.userIds, anons: person.anonymousIds };
}
