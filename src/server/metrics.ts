import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The server's metrics, in one registry served at /v1/agent/metrics?format=prometheus and /metrics. Names follow
 * Prometheus practice with cairn's prefix; units last (seconds).
 */
export interface Metrics {
  readonly registry: Registry;
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly isLeader: Gauge;
  readonly fsyncSeconds: Histogram;
  readonly applySeconds: Histogram;
  readonly httpRequests: Counter<"method" | "route" | "code">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
  return {
    registry,
    term: new Gauge({ name: "cairn_raft_term", help: "Current raft term", registers: [registry] }),
    commitIndex: new Gauge({
      name: "cairn_raft_commit_index",
      help: "Raft commit index",
      registers: [registry],
    }),
    appliedIndex: new Gauge({
      name: "cairn_raft_applied_index",
      help: "Last applied index",
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: "cairn_raft_is_leader",
      help: "1 when this server leads",
      registers: [registry],
    }),
    fsyncSeconds: new Histogram({
      name: "cairn_raft_fsync_seconds",
      help: "Time to make one batch of log entries (and term/vote) durable",
      buckets,
      registers: [registry],
    }),
    applySeconds: new Histogram({
      name: "cairn_fsm_apply_seconds",
      help: "Time to apply one committed entry to the state store",
      buckets,
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: "cairn_http_requests_total",
      help: "HTTP API requests by method, route and status code",
      labelNames: ["method", "route", "code"],
      registers: [registry],
    }),
  };
}

/** The registry's values for Consul's JSON summary (`type` as its string: prom-client declares it an enum). */
export async function metricValues(registry: Registry): Promise<
  {
    name: string;
    type: string;
    values: { value: number; labels: Partial<Record<string, string | number>>; metricName?: string }[];
  }[]
> {
  const families = await registry.getMetricsAsJSON();
  return families.map((f) => ({ name: f.name, type: String(f.type), values: f.values }));
}

/** Requests forwarded to this server (by client agents, or servers of other datacenters) in progress now. */
export function addForwardGauges(
  registry: Registry,
  counts: () => { readonly parked: number; readonly active: number },
): void {
  new Gauge({
    name: "cairn_forward_parked",
    help: "Forwarded blocking queries waiting on this server without holding a call (parked)",
    registers: [registry],
    collect() {
      this.set(counts().parked);
    },
  });
  new Gauge({
    name: "cairn_forward_active",
    help: "Forwarded requests in progress on this server, other than parked ones",
    registers: [registry],
    collect() {
      this.set(counts().active);
    },
  });
}
