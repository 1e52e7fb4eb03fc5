/**
 * People (`POST /api/v1/analytics/people`): one person looked up by a user id or an anonymous id — who they are
 * (the user an anonymous id was linked to by identify / alias, the latest link winning, as funnels and unique
 * people count them), the anonymous ids linked to them, their traits (identify calls merged per key, the latest
 * value winning: the `identity_traits` view) and their latest events in the range. Identity is read over all
 * time; events over the range. Every value is a bound parameter. Encrypted traits and attributes come back as
 * stored; `decryptPerson` opens them for admin reads (query/decrypt.ts).
 */
import { z } from 'zod';
import { SignalhouseError } from '../core/errors.ts';
import type { Encryption } from '../core/keyring.ts';
import { type DecryptionErrors, decryptMaps, decryptTraits } from './decrypt.ts';
import { readRows, type Store } from '../storage/store.ts';
import { identityLinkRows } from './explore.ts';
import { rangeCheck, rangeFields } from './request.ts';
import { logsRange } from './sql.ts';

export const peopleSchema = z
  .strictObject({ id: z.string().min(1).max(256), limit: z.number().int().min(1).max(200).default(50), ...rangeFields })
  .superRefine(rangeCheck);
export type PeopleRequest = z.infer<typeof peopleSchema>;

export interface PersonEvent {
  time: string;
  event_name: string;
  event_id: string;
  user_id: string;
  anonymous_id: string;
  session_id: string;
  site_id: string;
  attributes: Record<string, string>;
  /** Attributes left encrypted (admin reads), with why. */
  decryption_errors?: DecryptionErrors;
}

export interface Person {
  id: string;
  /** The user this id is or is linked to; null for an anonymous id linked to nobody. */
  user_id: string | null;
  /** Anonymous ids whose latest link names this user (or the id itself when it is anonymous and unlinked). */
  anonymous_ids: string[];
  /** `decryption_error`: the value was left encrypted (admin reads), and why. */
  traits: Array<{ key: string; value: string; updated_at: string; decryption_error?: string }>;
  /** First and last identify call, and how many (null when never identified). */
  first_identified: string | null;
  last_identified: string | null;
  identify_calls: number;
  /** Newest first, at most `limit`. */
  events: PersonEvent[];
}

/** The most anonymous ids a lookup lists for a user (the newest links). */
const MAX_ANONYMOUS_IDS = 1000;
/** Identify and alias calls of the tenant as (Anon, UserId, At): what the `identity_links` view reads. */
const linkRows = (db: string) => `SELECT AnonymousId AS Anon, UserId, At FROM (${identityLinkRows(db)})`;
/** A DateTime64 as epoch milliseconds, for ISO 8601 text (`isoOf`) as the other report endpoints write times. */
const ms = (column: string) => `toUnixTimestamp64Milli(${column})`;
const isoOf = (epochMs: unknown) => new Date(Number(epochMs)).toISOString();

export async function lookUpPerson(store: Store, tenantId: string, req: PeopleRequest): Promise<Person> {
  const db = store.database;
  const params: Record<string, unknown> = { tenant: tenantId, id: req.id, from: req.from, to: req.to, site: req.site_id ?? '', limit: req.limit };
  // In one statement: the links that name the id (as the anonymous id, or as the user of anonymous ids, newest
  // first, its own link first) and whether any event names it as a user id (UserId has a bloom filter index, so
  // that reads few granules). Reading the tenant's links once for both took a round trip off every lookup.
  const found = await readRows<{ kind: unknown; anon: string; user: string; is_user: unknown; last: unknown }>(
    store,
    `SELECT 0 AS kind, '' AS anon, '' AS user, toUInt8((SELECT count() FROM (SELECT 1 FROM ${db}.otel_logs WHERE TenantId = {tenant:String} AND UserId = {id:String} LIMIT 1))) AS is_user, toInt64(0) AS last ` +
      `UNION ALL SELECT 1, anon, user, 0, last FROM (SELECT Anon AS anon, argMax(UserId, At) AS user, ${ms('max(At)')} AS last FROM (${linkRows(db)}) WHERE Anon != '' ` +
      `GROUP BY Anon HAVING anon = {id:String} OR user = {id:String} ORDER BY anon = {id:String} DESC, last DESC LIMIT ${MAX_ANONYMOUS_IDS + 1})`,
    params,
  );
  // Newest first (UNION ALL does not promise an order).
  const links = found.filter((r) => Number(r.kind) === 1).sort((a, b) => Number(b.last) - Number(a.last));
  const own = links.find((r) => r.anon === req.id);
  const isUser = found.some((r) => Number(r.kind) === 0 && Number(r.is_user) > 0);
  const user = own ? own.user : isUser ? req.id : null;
  params.user = user ?? '';
  const anonsOf = async (): Promise<Array<{ anon: string }>> =>
    user === req.id
      ? links.filter((r) => r.user === user).slice(0, MAX_ANONYMOUS_IDS)
      : // An anonymous id linked to another user: that user's anonymous ids.
        readRows<{ anon: string }>(
          store,
          `SELECT Anon AS anon FROM (${linkRows(db)}) WHERE Anon != '' GROUP BY Anon HAVING argMax(UserId, At) = {user:String} ORDER BY max(At) DESC LIMIT ${MAX_ANONYMOUS_IDS}`,
          params,
        );
  const [anons, traits, identified] = user
    ? await Promise.all([
        anonsOf(),
        readRows<{ key: string; value: string; updated_at: string }>(
          store,
          `SELECT Key AS key, Value AS value, ${ms('UpdatedAt')} AS updated_at FROM ${db}.identity_traits WHERE TenantId = {tenant:String} AND UserId = {user:String} ORDER BY key`,
          params,
        ),
        readRows<{ first: string; last: string; calls: unknown }>(
          store,
          `SELECT ${ms('FirstSeen')} AS first, ${ms('LastSeen')} AS last, IdentifyCalls AS calls FROM ${db}.identities WHERE TenantId = {tenant:String} AND UserId = {user:String}`,
          params,
        ),
      ])
    : [[{ anon: req.id }], [], []];
  params.anons = anons.map((a) => a.anon);
  const whose = user ? '(e.UserId = {user:String} OR e.AnonymousId IN {anons:Array(String)})' : 'e.AnonymousId = {id:String}';
  const events = await readRows<PersonEvent>(
    store,
    `SELECT ${ms('e.Timestamp')} AS time, e.EventName AS event_name, e.EventId AS event_id, e.UserId AS user_id, e.AnonymousId AS anonymous_id, ` +
      `e.SessionId AS session_id, e.SiteId AS site_id, e.LogAttributes AS attributes FROM ${db}.otel_logs AS e ` +
      `WHERE e.TenantId = {tenant:String} AND ${logsRange('e')} AND ${whose}${req.site_id !== undefined ? ' AND e.SiteId = {site:String}' : ''} ` +
      'ORDER BY e.Timestamp DESC LIMIT {limit:UInt32}',
    params,
  );
  if (!user && events.length === 0) {
    throw new SignalhouseError('NOT_FOUND', 'no user with this id, and no events with it as anonymous id in the range');
  }
  const ident = identified[0];
  return {
    id: req.id,
    user_id: user,
    anonymous_ids: params.anons as string[],
    traits: traits.map((t) => ({ ...t, updated_at: isoOf(t.updated_at) })),
    first_identified: ident ? isoOf(ident.first) : null,
    last_identified: ident ? isoOf(ident.last) : null,
    identify_calls: ident ? Number(ident.calls) : 0,
    events: events.map((e) => ({ ...e, time: isoOf(e.time) })),
  };
}

/** The person with traits and event attributes decrypted (for admin tokens); failures named per value. */
export async function decryptPerson(enc: Encryption, tenantId: string, person: Person): Promise<Person> {
  await decryptTraits(enc, tenantId, person.traits);
  const errors = await decryptMaps(
    enc,
    tenantId,
    person.events.map((e) => e.attributes),
  );
  person.events.forEach((e, i) => {
    if (errors[i]) e.decryption_errors = errors[i];
  });
  return person;
}
