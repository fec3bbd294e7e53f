/**
 * The JSON shapes of the agent's local state, in Consul's field order (consul-compat.md §8.1): the agent's
 * Service (GET /v1/agent/services), HealthCheck (GET /v1/agent/checks, and what anti-entropy pushes to the
 * catalog), and the persisted CheckType (durations as integer nanoseconds, as Go's encoding/json writes
 * time.Duration).
 */
import type { CheckDefinition } from "../fsm/index.js";
import { type CheckProbe, type CheckStatus, goDuration, type ServiceDef } from "./defs.js";

/** A plain JSON value as these shapes use it. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** A check of the local state as Consul's structs.HealthCheck (without the raft indexes). */
export interface HealthCheck {
  readonly Node: string;
  readonly CheckID: string;
  readonly Name: string;
  readonly Status: CheckStatus;
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly ServiceTags: readonly string[];
  /** "ttl", "http", "tcp", or "" (maintenance checks). */
  readonly Type: string;
  readonly Interval: string;
  readonly Timeout: string;
  readonly Definition: HealthCheckDefinition;
}

/** structs.HealthCheckDefinition as JSON (the catalog's type): omitempty fields, durations as Go strings. */
export type HealthCheckDefinition = CheckDefinition;

export function checkType(p: CheckProbe | null): string {
  if (p === null) return "";
  if (p.http !== "") return "http";
  if (p.tcp !== "") return "tcp";
  return "ttl";
}

/** The Definition of a check run by `p` (null: a check nothing runs). */
export function definitionJson(p: CheckProbe | null): HealthCheckDefinition {
  const d: { -readonly [K in keyof HealthCheckDefinition]: HealthCheckDefinition[K] } = {};
  if (p === null) return d;
  if (p.http !== "") d.HTTP = p.http;
  if (Object.keys(p.header).length > 0) d.Header = { ...p.header };
  if (p.method !== "") d.Method = p.method;
  if (p.body !== "") d.Body = p.body;
  if (p.tlsSkipVerify) d.TLSSkipVerify = true;
  if (p.tcp !== "") d.TCP = p.tcp;
  if (p.intervalMs > 0) d.Interval = goDuration(p.intervalMs);
  if (p.timeoutMs > 0) d.Timeout = goDuration(p.timeoutMs);
  if (p.deregisterCriticalServiceAfterMs > 0)
    d.DeregisterCriticalServiceAfter = goDuration(p.deregisterCriticalServiceAfterMs);
  return d;
}

/** The agent's view of a service (api.AgentService), as GET /v1/agent/services answers it. */
export function serviceJson(s: ServiceDef, datacenter: string): Record<string, Json> {
  const out: Record<string, Json> = {
    ID: s.ID,
    Service: s.Service,
    Tags: [...s.Tags],
    Meta: { ...s.Meta },
    Port: s.Port,
    Address: s.Address,
  };
  if (Object.keys(s.TaggedAddresses).length > 0) {
    const t: Record<string, Json> = {};
    for (const [k, v] of Object.entries(s.TaggedAddresses)) t[k] = { Address: v.Address, Port: v.Port };
    out.TaggedAddresses = t;
  }
  out.Weights = { Passing: s.Weights.Passing, Warning: s.Weights.Warning };
  out.EnableTagOverride = s.EnableTagOverride;
  out.Datacenter = datacenter;
  return out;
}

/** The service as the catalog stores it (structs.NodeService, what a RegisterRequest carries). */
export function catalogServiceJson(s: ServiceDef): Record<string, Json> {
  const out = serviceJson(s, "");
  delete out.Datacenter;
  return out;
}

export function healthCheckJson(c: HealthCheck): Record<string, Json> {
  return {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: [...c.ServiceTags],
    Type: c.Type,
    Interval: c.Interval,
    Timeout: c.Timeout,
    Definition: { ...c.Definition } as Record<string, Json>,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

/** structs.CheckType as Consul persists it in checks/<md5>: durations as integer nanoseconds. */
export function probeJson(p: CheckProbe): Record<string, Json> {
  return {
    TTL: Math.round(p.ttlMs * 1e6),
    HTTP: p.http,
    Header: { ...p.header } as Record<string, Json>,
    Method: p.method,
    Body: p.body,
    TLSSkipVerify: p.tlsSkipVerify,
    TCP: p.tcp,
    Interval: Math.round(p.intervalMs * 1e6),
    Timeout: Math.round(p.timeoutMs * 1e6),
    DeregisterCriticalServiceAfter: Math.round(p.deregisterCriticalServiceAfterMs * 1e6),
    SuccessBeforePassing: p.successBeforePassing,
    FailuresBeforeCritical: p.failuresBeforeCritical,
    FailuresBeforeWarning: p.failuresBeforeWarning,
    OutputMaxSize: p.outputMaxSize,
    DisableRedirects: p.disableRedirects,
  };
}
