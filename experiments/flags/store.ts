/**
 * The flags of every tenant, in memory, backed by ClickHouse (storage/flags.ts): at start the store folds every
 * version row into the current flags; a change writes its version row (and an audit row) first, then swaps the
 * in-memory copy, so what is evaluated is always what is stored. Changes to one tenant's flags are serialized,
 * so versions follow one another. Flags declared in `signalhouse.yaml` are loaded beside them, `source: config`,
 * and cannot be changed here (409).
 */
import type { Logger } from 'pino';
import { SignalhouseError } from '../../core/errors.ts';
import { recordAudit } from '../../query/privacy/audit.ts';
import { type FlagVersionRow, insertFlagVersion, readAllFlagVersions, readFlagHistory } from '../../storage/flags.ts';
import type { Store } from '../../storage/store.ts';
import { checkFlag } from './check.ts';
import { type CompiledFlag, compileFlag } from './compile.ts';
import { type FlagDefinition, type FlagView, inputOf } from './model.ts';

/** Who makes a change: the credential (its key id and role, for the audit log) and the name it is recorded under. */
export interface FlagActor {
  readonly keyId: string;
  readonly role: string;
  /** `changedBy` / `createdBy` (default: the key id). */
  readonly name?: string;
}

interface Entry {
  readonly compiled: CompiledFlag;
  readonly view: FlagView;
}

/** A config flag as the store is given it. */
export interface ConfigFlag {
  readonly tenantId: string;
  readonly definition: FlagDefinition;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class FlagStore {
  private readonly tenants = new Map<string, Map<string, Entry>>();
  /** The last version written per tenant and key, deletions included (a key created again goes on counting). */
  private readonly lastVersion = new Map<string, number>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Counts each tenant's changes since start (the local-evaluation definitions' ETag). */
  private readonly generations = new Map<string, number>();
  /** Tells this process's generations from another's (a restart starts counting again). */
  private readonly startId = Math.random().toString(36).slice(2, 10);
  /** `compiled()`'s lists; a change to a tenant's flags drops its list. */
  private readonly compiledLists = new Map<string, readonly CompiledFlag[]>();

  private constructor(
    private readonly store: Store,
    private readonly logger: Logger | undefined,
  ) {}

  /** Loads the stored flags, then the config's (which win over a stored flag of the same key). */
  static async open(store: Store, configFlags: readonly ConfigFlag[] = [], logger?: Logger): Promise<FlagStore> {
    const flags = new FlagStore(store, logger);
    const rows = await readAllFlagVersions(store);
    let created: FlagVersionRow | undefined;
    for (const row of rows) {
      flags.lastVersion.set(`${row.tenantId}\u0000${row.key}`, row.version);
      if (row.deleted) {
        flags.tenant(row.tenantId).delete(row.key);
        created = undefined;
        continue;
      }
      const prev = flags.tenant(row.tenantId).get(row.key);
      if (!prev || created?.tenantId !== row.tenantId || created.key !== row.key) created = row;
      try {
        const { definition, compiled } = checkFlag(JSON.parse(row.definition));
        flags.tenant(row.tenantId).set(row.key, { compiled, view: flags.viewOf(definition, row, created, 'api') });
      } catch (err) {
        // A row this version cannot read (written by a newer one): the flag keeps its previous version.
        logger?.error({ err, tenant: row.tenantId, key: row.key, version: row.version }, 'feature flag version not loaded');
      }
    }
    for (const c of configFlags) {
      const at = Date.now();
      const row: FlagVersionRow = {
        tenantId: c.tenantId,
        key: c.definition.key,
        version: 0,
        definition: '',
        deleted: false,
        changedBy: 'config',
        changedAtMs: at,
        requestId: '',
      };
      if (flags.tenant(c.tenantId).has(c.definition.key))
        logger?.warn({ tenant: c.tenantId, key: c.definition.key }, 'flag declared in the config hides the stored flag of the same key');
      flags.tenant(c.tenantId).set(c.definition.key, { compiled: compileFlag(c.definition), view: flags.viewOf(c.definition, row, row, 'config') });
    }
    return flags;
  }

  private tenant(tenantId: string): Map<string, Entry> {
    let m = this.tenants.get(tenantId);
    if (!m) {
      m = new Map();
      this.tenants.set(tenantId, m);
    }
    return m;
  }

  private viewOf(d: FlagDefinition, row: FlagVersionRow, created: FlagVersionRow | undefined, source: FlagView['source']): FlagView {
    return {
      key: d.key,
      name: d.name,
      type: d.type,
      isEnabled: d.isEnabled,
      value: d.type === 'boolean' ? true : null,
      rolloutPercentage: d.rolloutPercentage,
      conditions: d.conditions,
      variants: d.variants,
      payloads: d.payloads,
      version: row.version,
      createdAt: iso((created ?? row).changedAtMs),
      createdBy: (created ?? row).changedBy,
      updatedAt: iso(row.changedAtMs),
      updatedBy: row.changedBy,
      source,
    };
  }

  get(tenantId: string, key: string): FlagView | undefined {
    return this.tenants.get(tenantId)?.get(key)?.view;
  }

  list(tenantId: string): FlagView[] {
    return [...(this.tenants.get(tenantId)?.values() ?? [])].map((e) => e.view).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The tenant's flags compiled, for evaluation (a list kept per tenant, rebuilt when a flag changes). */
  compiled(tenantId: string): readonly CompiledFlag[] {
    let list = this.compiledLists.get(tenantId);
    if (!list) {
      list = [...(this.tenants.get(tenantId)?.values() ?? [])].map((e) => e.compiled);
      this.compiledLists.set(tenantId, list);
    }
    return list;
  }

  compiledFlag(tenantId: string, key: string): CompiledFlag | undefined {
    return this.tenants.get(tenantId)?.get(key)?.compiled;
  }

  /** Names the tenant's flags as they are now: it changes with every change to them. */
  etag(tenantId: string): string {
    return `"${this.startId}-${this.generations.get(tenantId) ?? 0}"`;
  }

  private changed(tenantId: string): void {
    this.compiledLists.delete(tenantId);
    this.generations.set(tenantId, (this.generations.get(tenantId) ?? 0) + 1);
  }

  hasFlags(tenantId: string): boolean {
    return (this.tenants.get(tenantId)?.size ?? 0) > 0;
  }

  /** Runs `fn` after the tenant's earlier changes. */
  private serialized<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(tenantId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(
      tenantId,
      next.catch(() => undefined),
    );
    return next;
  }

  private writable(tenantId: string, key: string): Entry | undefined {
    const current = this.tenant(tenantId).get(key);
    if (current?.view.source === 'config') {
      throw new SignalhouseError('CONFLICT', `flag "${key}" is declared in signalhouse.yaml: change it there (it is read-only through the API)`);
    }
    return current;
  }

  /** Creates the flag; 409 when the key exists. */
  async create(tenantId: string, input: unknown, actor: FlagActor, requestId: string): Promise<FlagView> {
    const { definition, compiled } = checkFlag(input);
    return this.serialized(tenantId, async () => {
      if (this.writable(tenantId, definition.key))
        throw new SignalhouseError('CONFLICT', `flag "${definition.key}" exists: PATCH /api/feature-flags/flags/${definition.key} changes it`);
      return this.write(tenantId, definition, compiled, actor, requestId, 'flag.create');
    });
  }

  /** Creates or replaces the flag (for other experiments code, e.g. an experiment's multivariate flag). */
  async put(tenantId: string, input: unknown, actor: FlagActor, requestId: string): Promise<FlagView> {
    const { definition, compiled } = checkFlag(input);
    return this.serialized(tenantId, async () => {
      const exists = this.writable(tenantId, definition.key) !== undefined;
      return this.write(tenantId, definition, compiled, actor, requestId, exists ? 'flag.update' : 'flag.create');
    });
  }

  /** Changes the fields `patch` names (the key stays); 404 when there is no such flag. */
  update(tenantId: string, key: string, patch: Record<string, unknown>, actor: FlagActor, requestId: string): Promise<FlagView> {
    return this.serialized(tenantId, async () => {
      const current = this.writable(tenantId, key);
      if (!current) throw new SignalhouseError('NOT_FOUND', `no flag "${key}"`);
      if (patch.key !== undefined && patch.key !== key)
        throw new SignalhouseError('BAD_REQUEST', 'key: a flag keeps its key (create a new flag for a new key)');
      const merged: Record<string, unknown> = { ...inputOf(current.compiled.definition), ...patch, key };
      // A type change drops what belongs to the other type unless the patch gives it anew.
      if (patch.type === 'boolean' && patch.variants === undefined) merged.variants = [];
      if (patch.variants !== undefined && patch.payloads === undefined) merged.payloads = {};
      const { definition, compiled } = checkFlag(merged);
      return this.write(tenantId, definition, compiled, actor, requestId, 'flag.update');
    });
  }

  /** Deletes the flag (a version row saying so); false when there is none. */
  remove(tenantId: string, key: string, actor: FlagActor, requestId: string): Promise<boolean> {
    return this.serialized(tenantId, async () => {
      if (!this.writable(tenantId, key)) return false;
      const row = this.nextRow(tenantId, key, '', true, actor, requestId);
      await insertFlagVersion(this.store, row);
      await this.audit(tenantId, key, row, actor, 'flag.delete');
      this.lastVersion.set(`${tenantId}\u0000${key}`, row.version);
      this.tenant(tenantId).delete(key);
      this.changed(tenantId);
      return true;
    });
  }

  /** The flag's versions, newest first (a config flag has none stored). */
  async history(tenantId: string, key: string, limit = 1000) {
    const rows = await readFlagHistory(this.store, tenantId, key, limit);
    return rows.map((r) => ({
      version: r.version,
      changedBy: r.changedBy,
      changedAt: iso(r.changedAtMs),
      requestId: r.requestId,
      deleted: r.deleted,
      definition: r.deleted ? null : (JSON.parse(r.definition) as unknown),
    }));
  }

  private nextRow(tenantId: string, key: string, definition: string, deleted: boolean, actor: FlagActor, requestId: string): FlagVersionRow {
    const version = (this.lastVersion.get(`${tenantId}\u0000${key}`) ?? 0) + 1;
    return { tenantId, key, version, definition, deleted, changedBy: actor.name ?? actor.keyId, changedAtMs: Date.now(), requestId };
  }

  private async write(
    tenantId: string,
    definition: FlagDefinition,
    compiled: CompiledFlag,
    actor: FlagActor,
    requestId: string,
    action: string,
  ): Promise<FlagView> {
    const current = this.tenant(tenantId).get(definition.key);
    const row = this.nextRow(tenantId, definition.key, JSON.stringify(definition), false, actor, requestId);
    await insertFlagVersion(this.store, row);
    await this.audit(tenantId, definition.key, row, actor, action);
    this.lastVersion.set(`${tenantId}\u0000${definition.key}`, row.version);
    const created = current ? { ...row, changedAtMs: Date.parse(current.view.createdAt), changedBy: current.view.createdBy } : row;
    const view = this.viewOf(definition, row, created, 'api');
    this.tenant(tenantId).set(definition.key, { compiled, view });
    this.changed(tenantId);
    return view;
  }

  /** Audits a change refused to a known credential (`status`: its HTTP status), as the admin routes do. */
  async auditRefusal(tenantId: string, key: string, actor: FlagActor, action: string, status: number, requestId: string): Promise<void> {
    await this.recordAuditRow(tenantId, key, actor, action, status, requestId, {});
  }

  private async audit(tenantId: string, key: string, row: FlagVersionRow, actor: FlagActor, action: string): Promise<void> {
    await this.recordAuditRow(tenantId, key, actor, action, 200, row.requestId, { version: row.version, changedBy: row.changedBy });
  }

  private async recordAuditRow(
    tenantId: string,
    key: string,
    actor: FlagActor,
    action: string,
    status: number,
    requestId: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    try {
      await recordAudit(this.store, { tenantId, actor: actor.keyId, role: actor.role, action, target: key, status, requestId, details });
    } catch (err) {
      // The change is stored (its version row names who and when): failing now would make the client repeat it.
      this.logger?.error({ err, tenant: tenantId, key }, 'audit row not written');
    }
  }
}
