/**
 * The agent's local services and checks (Consul's agent/local.State plus the parts of agent/agent.go that manage
 * them): registration with Consul's defaults, the check runners (TTL, HTTP, TCP), maintenance mode, the
 * DeregisterCriticalServiceAfter reaper, and persistence of API registrations. Local state is authoritative for
 * this node; anti-entropy (anti-entropy.ts) listens for changes and pushes them to the catalog.
 *
 * Each service and check keeps the ACL token it was registered with (Consul's ServiceState.Token and
 * CheckState.Token): persisted with it, and used by anti-entropy to register it in the catalog. Never shown by
 * the read endpoints.
 *
 * Every mutation validates all its input first and changes nothing when it throws (LocalStateError, with
 * Consul's status and text). The in-memory change happens synchronously, before the persistence it awaits, so
 * readers never see half a registration.
 */

import { goQuote } from "../util/goquote.js";
import { probeHttp } from "./checks-http.js";
import { IntervalRunner, type ProbeResult, Thresholds } from "./checks-probe.js";
import { probeTcp } from "./checks-tcp.js";
import { captureOutput, TtlTimer } from "./checks-ttl.js";
import type { ConfigDefinitions } from "./config.js";
import {
  type CheckDef,
  type CheckProbe,
  type CheckStatus,
  goDuration,
  invalid,
  type JsonObject,
  LocalStateError,
  NO_PROBE,
  parseCheckRegistration,
  parseServiceRegistration,
  type ServiceDef,
  type ServiceRegistration,
} from "./defs.js";
import { checkType, definitionJson, type HealthCheck } from "./json.js";
import type { LocalPersist } from "./persist.js";
import type { Timers } from "./timers.js";

export const NODE_MAINTENANCE_ID = "_node_maintenance";
export const SERVICE_MAINTENANCE_PREFIX = "_service_maintenance:";
const NODE_MAINTENANCE_NOTES =
  "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
const SERVICE_MAINTENANCE_NOTES =
  "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";
/** Consul's check_reap_interval and the shortest DeregisterCriticalServiceAfter it honours. */
export const REAP_INTERVAL_MS = 30_000;
export const DEREGISTER_AFTER_MS_MIN = 60_000;

export interface LocalStateOptions {
  readonly nodeName: string;
  readonly datacenter: string;
  readonly timers: Timers;
  /** null: nothing is persisted (tests, or an agent without a data dir). */
  readonly persist: LocalPersist | null;
  /** [0, 1): the stagger of interval checks' first runs. */
  readonly random?: () => number;
  readonly probeHttp?: (p: CheckProbe, signal: AbortSignal) => Promise<ProbeResult>;
  readonly probeTcp?: (addr: string, timeoutMs: number, signal: AbortSignal) => Promise<ProbeResult>;
  readonly log?: (level: "info" | "warn", msg: string) => void;
  /** Re-reads the agent's config files for PUT /v1/agent/reload; absent, the agent has nothing to reload. */
  readonly reloadConfig?: () => Promise<ConfigDefinitions>;
}

interface ServiceEntry {
  readonly def: ServiceDef;
  /** The ACL token it was registered with; "" for none. */
  readonly token: string;
  /** Registered through the API (persisted), not from a config file (re-read at start). */
  readonly persist: boolean;
}

interface CheckEntry {
  readonly def: CheckDef;
  /** The ACL token it was registered with; "" for none. */
  readonly token: string;
  status: CheckStatus;
  output: string;
  readonly persist: boolean;
  /** When the check last turned critical (ms), or null while it is not critical. */
  criticalSinceMs: number | null;
  ttl: TtlTimer | null;
  runner: IntervalRunner | null;
}

export interface RegisterOptions {
  readonly replaceExistingChecks?: boolean;
  /** False for config-file definitions, which are re-read at every start. */
  readonly persist?: boolean;
  /** The ACL token of the registration, for the service and its checks; else the registration's own, else "". */
  readonly token?: string;
}

function unknownService(id: string): LocalStateError {
  return new LocalStateError("not_found", `Unknown service ID ${goQuote(id)}`);
}

function unknownCheck(id: string): LocalStateError {
  return new LocalStateError(
    "not_found",
    `Unknown check ID ${goQuote(id)}. Ensure that the check ID is passed, not the check name.`,
  );
}

/**
 * What the HTTP handlers of /v1/agent/service… and /v1/agent/check… ask of the agent's local state. Mutations
 * reject with LocalStateError (Consul's status and text) and change nothing when they do.
 */
export interface LocalAgent {
  readonly nodeName: string;
  readonly datacenter: string;
  services(): ServiceDef[];
  service(id: string): ServiceDef | undefined;
  checks(): HealthCheck[];
  serviceChecks(id: string): HealthCheck[];
  /** `token`: the request's ACL token (absent or "" for none), kept with the service and its checks. */
  registerServiceJson(body: JsonObject, replaceExistingChecks: boolean, token?: string): Promise<void>;
  deregisterService(id: string): Promise<void>;
  /** `token`: the request's ACL token (absent or "" for none), kept with the check. */
  registerCheckJson(body: JsonObject, token?: string): Promise<void>;
  deregisterCheck(id: string): Promise<void>;
  updateTtl(id: string, status: CheckStatus, output: string): Promise<void>;
  /** `token`: the request's ACL token; none takes the service's (Consul's EnableServiceMaintenance). */
  serviceMaintenance(id: string, enable: boolean, reason: string, token?: string): Promise<void>;
  nodeMaintenance(enable: boolean, reason: string, token?: string): Promise<void>;
  /**
   * Resolves true at the next change to services or checks, or false after `timeoutMs` of the state's clock
   * (a hash-blocking read's wait).
   */
  nextChange(timeoutMs: number): Promise<boolean>;
  /** The state's clock, in ms (the one nextChange's timeout runs on). */
  now(): number;
  /** PUT /v1/agent/reload: the config files' services and checks read again and applied. */
  reload(): Promise<void>;
}

export class LocalState implements LocalAgent {
  readonly nodeName: string;
  readonly datacenter: string;
  private readonly services_ = new Map<string, ServiceEntry>();
  private readonly checks_ = new Map<string, CheckEntry>();
  private readonly listeners = new Set<() => void>();
  private readonly o: LocalStateOptions;
  private reaperCancel: (() => void) | null = null;
  private stopped = false;

  constructor(o: LocalStateOptions) {
    this.o = o;
    this.nodeName = o.nodeName;
    this.datacenter = o.datacenter;
  }

  /** Calls `fn` after every change to services or checks (anti-entropy's partial sync). Returns its removal. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of [...this.listeners]) fn();
  }

  nextChange(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (changed: boolean) => {
        cancel();
        off();
        resolve(changed);
      };
      const cancel = this.o.timers.setTimeout(() => done(false), timeoutMs);
      const off = this.onChange(() => done(true));
    });
  }

  now(): number {
    return this.o.timers.now();
  }

  // ---- reads ----

  services(): ServiceDef[] {
    return [...this.services_.values()].map((e) => e.def);
  }

  service(id: string): ServiceDef | undefined {
    return this.services_.get(id)?.def;
  }

  checks(): HealthCheck[] {
    return [...this.checks_.values()].map((e) => this.view(e));
  }

  check(id: string): HealthCheck | undefined {
    const e = this.checks_.get(id);
    return e === undefined ? undefined : this.view(e);
  }

  /** The checks that decide a service's health: its own and the node's (Consul's ChecksForService(id, true)). */
  serviceChecks(id: string): HealthCheck[] {
    return this.checks().filter((c) => c.ServiceID === id || c.ServiceID === "");
  }

  /** The ACL token a service was registered with ("" for none or an unknown service). */
  serviceToken(id: string): string {
    return this.services_.get(id)?.token ?? "";
  }

  /** The ACL token a check was registered with ("" for none or an unknown check). */
  checkToken(id: string): string {
    return this.checks_.get(id)?.token ?? "";
  }

  private view(e: CheckEntry): HealthCheck {
    const svc = this.services_.get(e.def.ServiceID)?.def;
    const p = e.def.probe;
    const probed = p.http !== "" || p.tcp !== "";
    return {
      Node: this.nodeName,
      CheckID: e.def.CheckID,
      Name: e.def.Name,
      Status: e.status,
      Notes: e.def.Notes,
      Output: e.output,
      ServiceID: e.def.ServiceID,
      ServiceName: svc?.Service ?? "",
      ServiceTags: svc === undefined ? [] : [...svc.Tags],
      Type:
        e.def.CheckID.startsWith(SERVICE_MAINTENANCE_PREFIX) || e.def.CheckID === NODE_MAINTENANCE_ID
          ? "maintenance"
          : checkType(p === NO_PROBE ? null : p),
      Interval: probed ? goDuration(p.intervalMs) : "",
      Timeout: probed && p.timeoutMs > 0 ? goDuration(p.timeoutMs) : "",
      Definition: definitionJson(p === NO_PROBE ? null : p),
    };
  }

  // ---- services ----

  /** PUT /v1/agent/service/register. */
  async registerServiceJson(body: JsonObject, replaceExistingChecks: boolean, token = ""): Promise<void> {
    await this.addService(parseServiceRegistration(body), { replaceExistingChecks, persist: true, token });
  }

  /**
   * Adds or replaces a service with its checks. A check that already exists keeps its status and output;
   * with `replaceExistingChecks` the service's checks missing from `reg` are removed, otherwise they stay.
   */
  async addService(reg: ServiceRegistration, opts: RegisterOptions = {}): Promise<void> {
    const persist = opts.persist ?? true;
    const token = opts.token ?? reg.token ?? "";
    const id = reg.service.ID;
    const ids = new Set(reg.checks.map((c) => c.CheckID));
    const removed: string[] = [];
    if (opts.replaceExistingChecks) {
      for (const [cid, c] of this.checks_) {
        if (c.def.ServiceID === id && !ids.has(cid) && !cid.startsWith(SERVICE_MAINTENANCE_PREFIX))
          removed.push(cid);
      }
    }
    for (const cid of removed) this.dropCheck(cid);
    this.services_.set(id, { def: reg.service, persist, token });
    const writes: Promise<void>[] = removed.map(
      (cid) => this.o.persist?.deleteCheck(cid) ?? Promise.resolve(),
    );
    if (persist) writes.push(this.o.persist?.saveService(reg.service, token) ?? Promise.resolve());
    for (const c of reg.checks) writes.push(this.putCheck(c, persist, token));
    this.changed();
    await Promise.all(writes);
  }

  /** PUT /v1/agent/service/deregister/<id>: the service, its checks (maintenance included) and their files. */
  async deregisterService(id: string): Promise<void> {
    if (!this.services_.has(id)) throw unknownService(id);
    const writes: Promise<void>[] = [];
    for (const [cid, c] of [...this.checks_]) {
      if (c.def.ServiceID !== id) continue;
      this.dropCheck(cid);
      if (this.o.persist !== null) writes.push(this.o.persist.deleteCheck(cid));
    }
    this.services_.delete(id);
    if (this.o.persist !== null) writes.push(this.o.persist.deleteService(id));
    this.changed();
    await Promise.all(writes);
  }

  async reload(): Promise<void> {
    if (this.o.reloadConfig === undefined) throw new Error("This agent has no configuration files to reload");
    const defs = await this.o.reloadConfig();
    await this.replaceConfigDefinitions(defs.services, defs.checks);
  }

  /**
   * The config files' definitions after a reload: config services and checks no longer defined are removed, the
   * others added or replaced (a service with its checks); registrations made through the API stay.
   */
  async replaceConfigDefinitions(
    services: readonly ServiceRegistration[],
    checks: readonly CheckDef[],
  ): Promise<void> {
    const serviceIds = new Set(services.map((s) => s.service.ID));
    const checkIds = new Set(checks.map((c) => c.CheckID));
    for (const [id, e] of [...this.services_]) {
      if (!e.persist && !serviceIds.has(id)) await this.deregisterService(id);
    }
    for (const [id, e] of [...this.checks_]) {
      if (!e.persist && e.def.ServiceID === "" && !checkIds.has(id)) await this.deregisterCheck(id);
    }
    for (const s of services) await this.addService(s, { persist: false, replaceExistingChecks: true });
    for (const c of checks) await this.addCheck(c, false, "");
  }

  // ---- checks ----

  /** PUT /v1/agent/check/register. */
  async registerCheckJson(body: JsonObject, token = ""): Promise<void> {
    await this.addCheck(parseCheckRegistration(body), true, token);
  }

  /**
   * Adds or replaces a check; `persist` false for a config file's checks (re-read at every start); `token` the
   * ACL token it is registered with ("" for none).
   */
  async addCheck(def: CheckDef, persist: boolean, token = ""): Promise<void> {
    if (def.ServiceID !== "" && !this.services_.has(def.ServiceID))
      throw invalid(`ServiceID ${goQuote(def.ServiceID)} does not exist`);
    const write = this.putCheck(def, persist, token);
    this.changed();
    await write;
  }

  async deregisterCheck(id: string): Promise<void> {
    if (!this.checks_.has(id)) throw unknownCheck(id);
    this.dropCheck(id);
    this.changed();
    await this.o.persist?.deleteCheck(id);
  }

  /**
   * PUT /v1/agent/check/{pass,warn,fail,update}/<id>: sets a TTL check's status and output (cut at 4 KiB) and
   * restarts its TTL. The TTL state is persisted so that a restart within the TTL keeps it.
   */
  async updateTtl(id: string, status: CheckStatus, output: string): Promise<void> {
    const e = this.checks_.get(id);
    if (e === undefined) throw unknownCheck(id);
    if (e.ttl === null)
      throw new LocalStateError("no_ttl", `CheckID ${goQuote(id)} does not have associated TTL`);
    const out = captureOutput(output, e.def.probe.outputMaxSize);
    e.ttl.reset(out);
    this.setStatus(e, status, out);
    if (!e.persist || this.o.persist === null) return;
    const expires = Math.floor((this.o.timers.now() + e.def.probe.ttlMs) / 1000);
    await this.o.persist.saveCheckState({ CheckID: id, Output: out, Status: status, Expires: expires });
  }

  private setStatus(e: CheckEntry, status: CheckStatus, output: string): void {
    if (this.checks_.get(e.def.CheckID) !== e) return; // a runner of a check since removed or replaced
    if (status === "critical" && e.status !== "critical") e.criticalSinceMs = this.o.timers.now();
    if (status !== "critical") e.criticalSinceMs = null;
    const same = e.status === status && e.output === output;
    e.status = status;
    e.output = output;
    if (!same) this.changed();
  }

  /** Adds or replaces a check and starts its runner; returns the pending persistence. */
  private putCheck(
    def: CheckDef,
    persist: boolean,
    token: string,
    restored?: { status: CheckStatus; output: string },
  ): Promise<void> {
    const prev = this.checks_.get(def.CheckID);
    if (prev !== undefined) this.dropCheck(def.CheckID);
    const status: CheckStatus =
      restored?.status ?? prev?.status ?? (def.Status === "" ? "critical" : def.Status);
    const output = restored?.output ?? prev?.output ?? "";
    const e: CheckEntry = {
      def,
      token,
      status,
      output,
      persist,
      criticalSinceMs: status === "critical" ? (prev?.criticalSinceMs ?? this.o.timers.now()) : null,
      ttl: null,
      runner: null,
    };
    this.checks_.set(def.CheckID, e);
    this.startRunner(e);
    if (!persist || this.o.persist === null) return Promise.resolve();
    return this.o.persist.saveCheck(def, this.view(e), token);
  }

  private startRunner(e: CheckEntry): void {
    if (this.stopped) return;
    const p = e.def.probe;
    if (p.ttlMs > 0) {
      e.ttl = new TtlTimer(this.o.timers, p.ttlMs, (out) => this.setStatus(e, "critical", out), e.output);
      e.ttl.reset(e.output);
      return;
    }
    const probe =
      p.http !== ""
        ? (signal: AbortSignal) => (this.o.probeHttp ?? probeHttp)(p, signal)
        : p.tcp !== ""
          ? (signal: AbortSignal) => (this.o.probeTcp ?? probeTcp)(p.tcp, p.timeoutMs, signal)
          : null;
    if (probe === null) return;
    const random = this.o.random ?? Math.random;
    const gate = new Thresholds(p.successBeforePassing, p.failuresBeforeCritical, p.failuresBeforeWarning);
    const report = (r: ProbeResult) => {
      const status = gate.admit(r);
      if (status !== null) this.setStatus(e, status, r.output);
    };
    e.runner = new IntervalRunner(this.o.timers, p.intervalMs, probe, report, random());
  }

  /** Removes a check from memory and stops its runner (no persistence, no change event). */
  private dropCheck(id: string): void {
    const e = this.checks_.get(id);
    if (e === undefined) return;
    e.ttl?.stop();
    e.runner?.stop();
    this.checks_.delete(id);
  }

  // ---- maintenance ----

  /** PUT /v1/agent/service/maintenance/<id>: adds or removes the critical `_service_maintenance:<id>` check. */
  async serviceMaintenance(id: string, enable: boolean, reason: string, token = ""): Promise<void> {
    const svc = this.services_.get(id);
    if (svc === undefined) throw unknownService(id);
    const cid = SERVICE_MAINTENANCE_PREFIX + id;
    await this.maintenance(cid, enable, token === "" ? svc.token : token, {
      CheckID: cid,
      Name: "Service Maintenance Mode",
      Notes: reason === "" ? SERVICE_MAINTENANCE_NOTES : reason,
      Status: "critical",
      ServiceID: id,
      probe: NO_PROBE,
    });
  }

  /** PUT /v1/agent/maintenance: adds or removes the critical `_node_maintenance` check. */
  nodeMaintenance(enable: boolean, reason: string, token = ""): Promise<void> {
    return this.maintenance(NODE_MAINTENANCE_ID, enable, token, {
      CheckID: NODE_MAINTENANCE_ID,
      Name: "Node Maintenance Mode",
      Notes: reason === "" ? NODE_MAINTENANCE_NOTES : reason,
      Status: "critical",
      ServiceID: "",
      probe: NO_PROBE,
    });
  }

  private async maintenance(cid: string, enable: boolean, token: string, def: CheckDef): Promise<void> {
    const on = this.checks_.has(cid);
    if (enable === on) return; // Consul: enabling twice keeps the first reason; disabling when off is a no-op
    if (!enable) return this.deregisterCheck(cid);
    const write = this.putCheck(def, true, token);
    this.changed();
    await write;
  }

  // ---- lifecycle ----

  /**
   * Restores API registrations from the data dir (after config-file definitions were added: those win, and a
   * persisted copy of the same ID is deleted, as Consul purges it). Checks come back critical, except TTL checks
   * whose persisted state has not expired; a check of a service that is gone is deleted.
   */
  async load(): Promise<void> {
    const p = this.o.persist;
    if (p === null) return;
    const loaded = await p.load();
    const writes: Promise<void>[] = [];
    for (const s of loaded.services) {
      if (this.services_.has(s.ID)) writes.push(p.deleteService(s.ID));
      else this.services_.set(s.ID, { def: s, persist: true, token: loaded.serviceTokens.get(s.ID) ?? "" });
    }
    const now = this.o.timers.now();
    for (const c of loaded.checks) {
      const id = c.def.CheckID;
      const orphan = c.def.ServiceID !== "" && !this.services_.has(c.def.ServiceID);
      if (this.checks_.has(id) || orphan) {
        writes.push(p.deleteCheck(id));
        continue;
      }
      const st = loaded.states.get(id);
      const fresh = st !== undefined && c.def.probe.ttlMs > 0 && st.Expires * 1000 > now;
      const write = this.putCheck(
        c.def,
        true,
        c.token,
        fresh ? { status: st.Status, output: st.Output } : { status: "critical", output: "" },
      );
      writes.push(write);
      // Consul purges a stale TTL state, so that a later restart cannot mistake it for a fresh one.
      if (st !== undefined && !fresh) writes.push(p.deleteCheckState(id));
    }
    this.changed();
    await Promise.all(writes);
  }

  /** Starts the DeregisterCriticalServiceAfter reaper (every 30 s). */
  startReaper(): void {
    if (this.stopped || this.reaperCancel !== null) return;
    this.reaperCancel = this.o.timers.setTimeout(() => {
      this.reaperCancel = null;
      this.startReaper();
      this.reap().catch((e: unknown) => this.o.log?.("warn", `reaping services failed: ${String(e)}`));
    }, REAP_INTERVAL_MS);
  }

  /** Removes every service with a check critical for longer than its DeregisterCriticalServiceAfter. */
  async reap(): Promise<string[]> {
    const now = this.o.timers.now();
    const doomed = new Set<string>();
    for (const e of this.checks_.values()) {
      const after = e.def.probe.deregisterCriticalServiceAfterMs;
      if (after <= 0 || e.def.ServiceID === "" || e.criticalSinceMs === null) continue;
      if (now - e.criticalSinceMs > Math.max(after, DEREGISTER_AFTER_MS_MIN)) doomed.add(e.def.ServiceID);
    }
    for (const id of doomed) {
      this.o.log?.("info", `Check critical for too long, deregistering service ${goQuote(id)}`);
      if (this.services_.has(id)) await this.deregisterService(id);
    }
    return [...doomed];
  }

  /** Stops every timer and runner; the state stays readable. */
  stop(): void {
    this.stopped = true;
    this.reaperCancel?.();
    this.reaperCancel = null;
    for (const e of this.checks_.values()) {
      e.ttl?.stop();
      e.runner?.stop();
    }
  }
}
