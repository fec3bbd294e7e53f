/**
 * Anti-entropy (Consul's agent/ae/ae.go and local.State.SyncFull/SyncChanges): the agent's local state is
 * authoritative for its own node, and this loop makes the catalog agree with it.
 *
 * - A partial sync runs after each local change: it pushes what differs from what the catalog is believed to
 *   hold, and deregisters what the agent no longer has.
 * - A full sync runs at start and then every interval plus a random stagger of up to one interval (Consul: 1 min,
 *   scaled for large clusters): it reads the node's services and checks from the catalog first, so that edits
 *   made behind the agent's back (a catalog deregister, a foreign registration) are undone.
 * - A failed sync is retried as a full sync after the retry interval (15 s) plus stagger.
 * - Output-only check changes are pushed at most once per check_update_interval (5 min) by partial syncs; status
 *   changes go at once. A full sync pushes everything that differs.
 * - Never touched: the `serfHealth` check, which the leader owns, and on a server the `consul` service.
 * - ACL tokens, as Consul's agent/local/state.go picks them: a service or check is registered with the token it
 *   was registered with locally (LocalState.serviceToken/checkToken), "" meaning the agent's default token
 *   (acl.tokens.default); a service's checks ride on its registration only when they have its token. The node,
 *   the deregistrations and the reads use the agent token (acl.tokens.agent, else the default one): node:write
 *   on this node may remove any of its services and checks, whatever token registered them. A write refused by
 *   ACLs is logged ("Service registration blocked by ACLs") and counted as done until the next full sync, as
 *   Consul does, so one denied service neither blocks the others nor retries in a loop.
 *
 * The catalog is reached through CatalogSync, the ServerApi's catalog methods, in Consul's JSON shapes
 * (consul-compat.md §8.1, §8.2).
 */

import type { QueryOptions, ServerApi } from "../api/types.js";
import {
  type CatalogRegisterRequest,
  type CheckSpec,
  type HealthCheckJson,
  SERF_CHECK_ID,
  type ServiceJson,
  type ServiceSpec,
} from "../fsm/index.js";
import { CairnError, errorText } from "../util/errors.js";
import type { ServiceDef } from "./defs.js";
import type { HealthCheck } from "./json.js";
import type { LocalState } from "./state.js";
import type { Timers } from "./timers.js";

/**
 * What anti-entropy needs of the catalog: the ServerApi's catalog methods (register and deregister in the
 * normalized request shapes, the node's services, the node's checks); the tests give it a MemoryServer, the real
 * catalog endpoints over an in-memory store.
 *
 * `catalogRegister`'s `token` is the ACL token of a service's or check's registration ("" for none: the agent's
 * default token); absent, the call is the agent's own (the node), made with the agent token, as every other
 * call is. A server agent's catalog is in-process and trusted, and ignores it (ServerService); a client agent's
 * sends it to the server that answers (agent/client-api.ts ForwardedCatalog), which rejects a write its ACLs
 * refuse with CatalogDeniedError.
 */
export interface CatalogSync
  extends Pick<ServerApi, "catalogDeregister" | "catalogNodeServices" | "healthNode"> {
  catalogRegister(req: CatalogRegisterRequest, token?: string): Promise<void>;
}

/** A catalog write refused by ACLs (Consul's permission denied or ACL not found); the text is the server's. */
export class CatalogDeniedError extends CairnError {
  readonly code = "catalog_denied";
  override name = "CatalogDeniedError";
}

// ---- the loop ----

export const CONSUL_SERVICE = "consul";
export const FULL_SYNC_INTERVAL_MS = 60_000;
export const RETRY_INTERVAL_MS = 15_000;
export const CHECK_UPDATE_INTERVAL_MS = 5 * 60_000;
/** A failing agent retries within this long after the servers change. */
export const SERVER_CHANGE_STAGGER_MS = 3_000;
/** Syncs one wake-up may run back to back before yielding (changes arriving during a sync queue one more). */
const SYNCS_PER_WAKE_MAX = 16;

export interface NodeInfo {
  readonly node: string;
  readonly id: string;
  readonly datacenter: string;
  readonly address: string;
  readonly taggedAddresses: Readonly<Record<string, string>>;
  readonly meta: Readonly<Record<string, string>>;
  /** A server agent: the `consul` service on its node belongs to the leader. */
  readonly server: boolean;
}

export interface AntiEntropyOptions {
  readonly catalog: CatalogSync;
  readonly local: LocalState;
  readonly node: NodeInfo;
  readonly timers: Timers;
  readonly random?: () => number;
  readonly intervalMs?: number;
  readonly retryMs?: number;
  readonly checkUpdateIntervalMs?: number;
  readonly log?: (level: "info" | "warn", msg: string) => void;
}

/** What the catalog is believed to hold for one entry. */
interface Known {
  readonly hash: string;
  readonly status?: string;
  readonly pushedAtMs: number;
}

const NOW_QUERY: QueryOptions = { consistency: "default", minIndex: 0, waitMs: 0 };

/** JSON with object keys sorted, so that equal values give equal strings whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/** The compared fields of a service, local or from the catalog (absent collections as empty). */
function serviceHash(s: ServiceJson | ServiceSpec): string {
  const r = s as unknown as Record<string, unknown>;
  return canonical([
    r.ID,
    r.Service,
    r.Tags ?? [],
    r.Meta ?? {},
    r.Port ?? 0,
    r.Address ?? "",
    r.TaggedAddresses ?? {},
    r.Weights ?? { Passing: 1, Warning: 1 },
    r.EnableTagOverride ?? false,
  ]);
}

/** The service as a register request carries it. */
export function serviceSpec(s: ServiceDef): ServiceSpec {
  const tagged: Record<string, { Address: string; Port: number }> = {};
  for (const [k, v] of Object.entries(s.TaggedAddresses)) tagged[k] = { Address: v.Address, Port: v.Port };
  return {
    ID: s.ID,
    Service: s.Service,
    Tags: [...s.Tags],
    Address: s.Address,
    TaggedAddresses: tagged,
    Meta: { ...s.Meta },
    Port: s.Port,
    Weights: { Passing: s.Weights.Passing, Warning: s.Weights.Warning },
    EnableTagOverride: s.EnableTagOverride,
    Kind: "",
  };
}

export function checkSpec(c: HealthCheck): CheckSpec {
  return {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    Type: c.Type,
    Definition: { ...c.Definition },
  };
}

function checkHash(c: HealthCheckJson | HealthCheck): string {
  return canonical([
    c.CheckID,
    c.Name,
    c.Status,
    c.Notes ?? "",
    c.Output ?? "",
    c.ServiceID ?? "",
    c.ServiceName ?? "",
  ]);
}

export class AntiEntropy {
  private readonly o: AntiEntropyOptions;
  private readonly services = new Map<string, Known>();
  private readonly checks = new Map<string, Known>();
  /** The service of each check in `checks` ("" for node checks): a service's deregistration drops its checks. */
  private readonly checkServices = new Map<string, string>();
  private nodeInSync = false;
  private wantFull = false;
  private wantPartial = false;
  private running: Promise<void> | null = null;
  private timerCancel: (() => void) | null = null;
  private deferCancel: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;
  /** The last sync failed: a retry is armed, and news of the servers may bring it forward. */
  private failing = false;
  /** Syncs completed and failed (for tests and metrics). */
  syncs = 0;
  failures = 0;
  /** Catalog writes refused by ACLs. */
  blocked = 0;

  constructor(o: AntiEntropyOptions) {
    this.o = o;
  }

  /** Subscribes to local changes and runs the first full sync at once. */
  start(): void {
    this.unsubscribe = this.o.local.onChange(() => this.request(false));
    this.request(true);
  }

  /**
   * The servers changed (a leader appeared, this server joined): a failing agent retries within 3 s instead of
   * waiting out its retry interval, as Consul's agent does when a server joins.
   */
  serversChanged(): void {
    if (!this.failing || this.stopped) return;
    this.schedule(Math.floor((this.o.random ?? Math.random)() * SERVER_CHANGE_STAGGER_MS));
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.timerCancel?.();
    this.deferCancel?.();
  }

  /** Resolves once no sync is running or queued (tests). */
  async idle(): Promise<void> {
    for (let i = 0; i < SYNCS_PER_WAKE_MAX * 4 && this.running !== null; i++) await this.running;
  }

  /** Queues a sync; a full one replaces a queued partial one. */
  request(full: boolean): void {
    if (this.stopped) return;
    if (full) this.wantFull = true;
    else this.wantPartial = true;
    if (this.running === null) this.running = this.loop().finally(() => (this.running = null));
  }

  private stagger(ms: number): number {
    return ms + Math.floor((this.o.random ?? Math.random)() * ms);
  }

  private schedule(ms: number): void {
    this.timerCancel?.();
    this.timerCancel = this.o.timers.setTimeout(() => {
      this.timerCancel = null;
      this.request(true);
    }, ms);
  }

  private async loop(): Promise<void> {
    // Let the change that woke us finish (a registration adds a service, then its checks) before reading it.
    await Promise.resolve();
    for (let i = 0; i < SYNCS_PER_WAKE_MAX && !this.stopped && (this.wantFull || this.wantPartial); i++) {
      const full = this.wantFull;
      this.wantFull = false;
      this.wantPartial = false;
      try {
        if (full) await this.readCatalog();
        await this.push(full);
        this.syncs++;
        this.failing = false;
        if (full) this.schedule(this.stagger(this.o.intervalMs ?? FULL_SYNC_INTERVAL_MS));
      } catch (e) {
        this.failures++;
        this.failing = true;
        this.o.log?.("warn", `anti-entropy: syncing with the catalog failed: ${errorText(e)}`);
        this.schedule(this.stagger(this.o.retryMs ?? RETRY_INTERVAL_MS));
        return;
      }
    }
  }

  private owned(serviceId: string): boolean {
    return !(this.o.node.server && serviceId === CONSUL_SERVICE);
  }

  /** Replaces what the catalog is believed to hold with what it holds now. */
  private async readCatalog(): Promise<void> {
    const n = this.o.node;
    const ns = (await this.o.catalog.catalogNodeServices(n.node, NOW_QUERY)).value;
    const checks = ns === null ? [] : (await this.o.catalog.healthNode(n.node, NOW_QUERY)).value;
    this.services.clear();
    this.checks.clear();
    this.checkServices.clear();
    if (ns === null) {
      this.nodeInSync = false;
      return;
    }
    const node = ns.Node;
    this.nodeInSync =
      node.Address === n.address &&
      canonical(node.TaggedAddresses ?? {}) === canonical(n.taggedAddresses) &&
      canonical(node.Meta ?? {}) === canonical(n.meta);
    const at = this.o.timers.now();
    for (const s of Object.values(ns.Services)) {
      if (this.owned(s.ID)) this.services.set(s.ID, { hash: serviceHash(s), pushedAtMs: at });
    }
    for (const c of checks) {
      if (c.CheckID === SERF_CHECK_ID || !this.owned(String(c.ServiceID ?? ""))) continue;
      this.checks.set(c.CheckID, { hash: checkHash(c), status: String(c.Status ?? ""), pushedAtMs: at });
      this.checkServices.set(c.CheckID, String(c.ServiceID ?? ""));
    }
  }

  private nodeRequest(): CatalogRegisterRequest {
    const n = this.o.node;
    return {
      ID: n.id,
      Node: n.node,
      Address: n.address,
      Datacenter: n.datacenter,
      TaggedAddresses: { ...n.taggedAddresses },
      NodeMeta: { ...n.meta },
      Service: null,
      Checks: [],
      SkipNodeUpdate: this.nodeInSync,
    };
  }

  /** Makes the catalog match the local state, as far as it is known to differ. */
  private async push(full: boolean): Promise<void> {
    const n = this.o.node;
    const local = this.o.local;
    if (!this.nodeInSync) {
      await this.allowed("Node info update blocked by ACLs", `node=${n.node}`, () =>
        this.o.catalog.catalogRegister(this.nodeRequest()),
      );
      this.nodeInSync = true;
    }
    for (const id of [...this.services.keys()]) {
      // A deregistration with neither ServiceID nor CheckID removes the whole node: never send one.
      if (id === "" || local.service(id) !== undefined) continue;
      // Refused, it is forgotten as if done: the next full sync finds it in the catalog and tries again.
      await this.allowed("Service deregistration blocked by ACLs", `service=${id}`, () =>
        this.o.catalog.catalogDeregister({
          Node: n.node,
          Datacenter: n.datacenter,
          ServiceID: id,
          CheckID: "",
        }),
      );
      this.services.delete(id);
      // The catalog drops a service's checks with it.
      for (const cid of [...this.checks.keys()])
        if (this.checkServices.get(cid) === id) this.checks.delete(cid);
    }
    for (const id of [...this.checks.keys()]) {
      if (id === "" || local.check(id) !== undefined) continue;
      await this.allowed("Check deregistration blocked by ACLs", `check=${id}`, () =>
        this.o.catalog.catalogDeregister({
          Node: n.node,
          Datacenter: n.datacenter,
          ServiceID: "",
          CheckID: id,
        }),
      );
      this.checks.delete(id);
    }
    for (const s of local.services()) {
      if (this.services.get(s.ID)?.hash === serviceHash(serviceSpec(s))) continue;
      await this.pushService(s);
    }
    let deferUntil = Number.POSITIVE_INFINITY;
    for (const c of local.checks()) {
      const known = this.checks.get(c.CheckID);
      if (known?.hash === checkHash(c)) continue;
      const due = (known?.pushedAtMs ?? 0) + (this.o.checkUpdateIntervalMs ?? CHECK_UPDATE_INTERVAL_MS);
      if (!full && known?.status === c.Status && due > this.o.timers.now()) {
        deferUntil = Math.min(deferUntil, due);
        continue;
      }
      await this.pushCheck(c);
    }
    if (deferUntil !== Number.POSITIVE_INFINITY) this.deferPartial(deferUntil - this.o.timers.now());
  }

  private deferPartial(ms: number): void {
    if (this.deferCancel !== null) return;
    this.deferCancel = this.o.timers.setTimeout(() => {
      this.deferCancel = null;
      this.request(false);
    }, ms);
  }

  /**
   * Runs a catalog write; one refused by ACLs is logged as Consul logs it and counted, and the sync goes on.
   * Any other failure fails the sync. The message names the entry, never the token.
   */
  private async allowed(blocked: string, what: string, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (e) {
      if (!(e instanceof CatalogDeniedError)) throw e;
      this.blocked++;
      this.o.log?.("warn", `anti-entropy: ${blocked}: ${what}: ${errorText(e)}`);
    }
  }

  /**
   * Registers a service with its token, and in the same request its checks that have the same token, as Consul's
   * syncService does (a check must not ride on another token's rights); the others go on their own (push).
   */
  private async pushService(s: ServiceDef): Promise<void> {
    const local = this.o.local;
    const token = local.serviceToken(s.ID);
    const checks = local
      .checks()
      .filter((c) => c.ServiceID === s.ID && local.checkToken(c.CheckID) === token);
    const spec = serviceSpec(s);
    await this.allowed("Service registration blocked by ACLs", `service=${s.ID}`, () =>
      this.o.catalog.catalogRegister(
        { ...this.nodeRequest(), Service: spec, Checks: checks.map(checkSpec) },
        token,
      ),
    );
    const at = this.o.timers.now();
    this.services.set(s.ID, { hash: serviceHash(spec), pushedAtMs: at });
    for (const c of checks) this.remember(c, at);
  }

  /**
   * Registers one check with its token, with its service as Consul's syncCheck does (the catalog needs the
   * service to exist).
   */
  private async pushCheck(c: HealthCheck): Promise<void> {
    const svc = c.ServiceID === "" ? undefined : this.o.local.service(c.ServiceID);
    await this.allowed("Check registration blocked by ACLs", `check=${c.CheckID}`, () =>
      this.o.catalog.catalogRegister(
        {
          ...this.nodeRequest(),
          Service: svc === undefined ? null : serviceSpec(svc),
          Checks: [checkSpec(c)],
        },
        this.o.local.checkToken(c.CheckID),
      ),
    );
    this.remember(c, this.o.timers.now());
  }

  private remember(c: HealthCheck, at: number): void {
    this.checks.set(c.CheckID, { hash: checkHash(c), status: c.Status, pushedAtMs: at });
    this.checkServices.set(c.CheckID, c.ServiceID);
  }
}
