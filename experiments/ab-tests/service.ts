/**
 * The experiments of every tenant, in memory (the latest version of each, loaded from `experiment_versions` at
 * start) and in the store: each create or change appends a version first — from then on it is the experiment,
 * here as after a restart — and then updates the experiment's flag (a failure there fails the call; repeating the
 * change writes the flag again). Changes of one tenant run one at a time, so versions and flag keys never collide.
 * One process writes a store's experiments.
 */
import { randomUUID } from 'node:crypto';
import { SignalhouseError } from '../../core/errors.ts';
import { appendExperimentVersion, latestExperimentVersions } from '../../storage/experiments.ts';
import type { Store } from '../../storage/store.ts';
import { type CreateInput, type Experiment, flagKeyFromName, type UpdateInput } from './definition.ts';
import { type ExperimentFlags, experimentFlag } from './flags.ts';

export interface ExperimentsOptions {
  store: Store;
  /** The flag store; undefined: experiments write no flag (flags.ts). */
  flags?: ExperimentFlags;
  now?: () => number;
}

export interface Experiments {
  /** Reads the stored experiments (once, at start). */
  load(): Promise<void>;
  list(tenantId: string): Experiment[];
  /** The tenant's experiment; 404 NOT_FOUND for another tenant's or an unknown one. */
  get(tenantId: string, id: string): Experiment;
  create(tenantId: string, input: CreateInput, actor: string, requestId: string): Promise<Experiment>;
  update(tenantId: string, id: string, input: UpdateInput, actor: string, requestId: string): Promise<Experiment>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Experiments are kept in memory: a bound on what one tenant's admin can make it hold. */
export const MAX_EXPERIMENTS_PER_TENANT = 1000;

export function createExperiments(opts: ExperimentsOptions): Experiments {
  const { store, flags } = opts;
  const now = opts.now ?? Date.now;
  const byTenant = new Map<string, Map<string, Experiment>>();
  const queues = new Map<string, Promise<unknown>>();
  const tenantMap = (tenantId: string) => {
    let m = byTenant.get(tenantId);
    if (!m) byTenant.set(tenantId, (m = new Map()));
    return m;
  };
  /** Runs `fn` after the tenant's earlier changes. */
  const serially = <T>(tenantId: string, fn: () => Promise<T>): Promise<T> => {
    const run = (queues.get(tenantId) ?? Promise.resolve()).then(fn, fn);
    queues.set(
      tenantId,
      run.catch(() => undefined),
    );
    return run;
  };
  const save = async (tenantId: string, e: Experiment, actor: string, requestId: string) => {
    // The flag first: a flag the store refuses leaves the experiment unchanged.
    if (flags) await flags.upsert(tenantId, experimentFlag(e), actor, requestId);
    await appendExperimentVersion(store, {
      tenantId,
      id: e.id,
      version: e.version,
      definition: JSON.stringify(e),
      actor,
      requestId,
      changedAtMs: Date.parse(e.updatedAt),
    });
    tenantMap(tenantId).set(e.id, e);
  };
  const get = (tenantId: string, id: string) => {
    const e = byTenant.get(tenantId)?.get(id);
    if (!e) throw new SignalhouseError('NOT_FOUND', `no experiment "${id}"`);
    return e;
  };

  return {
    async load() {
      for (const v of await latestExperimentVersions(store)) tenantMap(v.tenantId).set(v.id, JSON.parse(v.definition) as Experiment);
    },
    list: (tenantId) => [...(byTenant.get(tenantId)?.values() ?? [])].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)),
    get,
    create: (tenantId, input, actor, requestId) =>
      serially(tenantId, async () => {
        if (tenantMap(tenantId).size >= MAX_EXPERIMENTS_PER_TENANT)
          throw new SignalhouseError('BAD_REQUEST', `a tenant has at most ${MAX_EXPERIMENTS_PER_TENANT} experiments`);
        const id = randomUUID();
        const flagKey = input.flagKey ?? flagKeyFromName(input.name, id);
        const taken = [...tenantMap(tenantId).values()].find((e) => e.flagKey === flagKey);
        if (taken) throw new SignalhouseError('BAD_REQUEST', `flagKey: "${flagKey}" is the flag of experiment "${taken.id}"; give another flagKey`);
        const at = now();
        const e: Experiment = {
          id,
          name: input.name,
          status: input.status,
          flagKey,
          variants: input.variants,
          metrics: input.metrics,
          createdBy: input.createdBy ?? actor,
          startAt: input.startAt !== undefined ? iso(input.startAt) : input.status === 'draft' ? null : iso(at),
          endAt: input.endAt !== undefined ? iso(input.endAt) : input.status === 'stopped' ? iso(at) : null,
          createdAt: iso(at),
          updatedAt: iso(at),
          version: 1,
        };
        await save(tenantId, e, actor, requestId);
        return e;
      }),
    update: (tenantId, id, input, actor, requestId) =>
      serially(tenantId, async () => {
        const old = get(tenantId, id);
        if (input.variants && old.status !== 'draft')
          throw new SignalhouseError('BAD_REQUEST', `variants: can change only while the experiment is a draft (it is ${old.status})`);
        const at = now();
        const status = input.status ?? old.status;
        const startAt = input.startAt === null ? null : input.startAt !== undefined ? iso(input.startAt) : old.startAt;
        const endAt = input.endAt === null ? null : input.endAt !== undefined ? iso(input.endAt) : old.endAt;
        const e: Experiment = {
          ...old,
          name: input.name ?? old.name,
          status,
          variants: input.variants ?? old.variants,
          metrics: input.metrics ?? old.metrics,
          // Starting sets the start, stopping the end, unless they are given.
          startAt: startAt ?? (status !== 'draft' ? iso(at) : null),
          endAt: endAt ?? (status === 'stopped' ? iso(at) : null),
          updatedAt: iso(at),
          version: old.version + 1,
        };
        if (e.startAt !== null && e.endAt !== null && Date.parse(e.endAt) <= Date.parse(e.startAt))
          throw new SignalhouseError('BAD_REQUEST', 'endAt: must be after startAt');
        await save(tenantId, e, actor, requestId);
        return e;
      }),
  };
}
