import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The snapshot agent's metrics (cairn's own names: Consul documents none for its agent, docs/consul-compat.md
 * §6.4), in one registry served at the agent's /metrics. Units last, Prometheus style.
 */
export interface AgentMetrics {
  readonly registry: Registry;
  /** Snapshots attempted, by result: success, failure. */
  readonly snapshots: Counter<"result">;
  readonly lastSuccessSeconds: Gauge;
  readonly lastAttemptSeconds: Gauge;
  readonly snapshotSeconds: Histogram;
  readonly archiveBytes: Gauge;
  readonly lastIndex: Gauge;
  readonly uploadSeconds: Histogram<"store">;
  readonly uploadBytes: Counter<"store">;
  readonly uploadFailures: Counter<"store">;
  readonly retentionDeletions: Counter<"store">;
  readonly isActive: Gauge;
  readonly consecutiveFailures: Gauge;
  readonly drills: Counter<"result">;
  readonly drillSeconds: Gauge;
  readonly lastDrillSuccessSeconds: Gauge;
}

export function createAgentMetrics(): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  const slow = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
  return {
    registry,
    snapshots: new Counter({
      name: "cairn_snapshot_agent_snapshots_total",
      help: "Snapshots attempted, by result (success: saved, verified, uploaded and read back everywhere)",
      labelNames: ["result"],
      registers,
    }),
    lastSuccessSeconds: new Gauge({
      name: "cairn_snapshot_agent_last_success_timestamp_seconds",
      help: "Unix time of the last snapshot verified in every store",
      registers,
    }),
    lastAttemptSeconds: new Gauge({
      name: "cairn_snapshot_agent_last_attempt_timestamp_seconds",
      help: "Unix time of the last snapshot attempt",
      registers,
    }),
    snapshotSeconds: new Histogram({
      name: "cairn_snapshot_agent_snapshot_duration_seconds",
      help: "Time of one whole snapshot: save, verify, upload, read back, retention",
      buckets: slow,
      registers,
    }),
    archiveBytes: new Gauge({
      name: "cairn_snapshot_agent_archive_bytes",
      help: "Size of the last saved archive, as stored",
      registers,
    }),
    lastIndex: new Gauge({
      name: "cairn_snapshot_agent_last_snapshot_index",
      help: "Raft index of the last saved snapshot",
      registers,
    }),
    uploadSeconds: new Histogram({
      name: "cairn_snapshot_agent_upload_duration_seconds",
      help: "Time to upload one archive and read it back, by store",
      labelNames: ["store"],
      buckets: slow,
      registers,
    }),
    uploadBytes: new Counter({
      name: "cairn_snapshot_agent_upload_bytes_total",
      help: "Bytes uploaded, by store",
      labelNames: ["store"],
      registers,
    }),
    uploadFailures: new Counter({
      name: "cairn_snapshot_agent_upload_failures_total",
      help: "Uploads that failed or did not read back equal, by store",
      labelNames: ["store"],
      registers,
    }),
    retentionDeletions: new Counter({
      name: "cairn_snapshot_agent_retention_deletions_total",
      help: "Backups deleted by retention, by store",
      labelNames: ["store"],
      registers,
    }),
    isActive: new Gauge({
      name: "cairn_snapshot_agent_is_active",
      help: "1 while this agent holds the lock and takes the snapshots",
      registers,
    }),
    consecutiveFailures: new Gauge({
      name: "cairn_snapshot_agent_consecutive_failures",
      help: "Failed snapshots in a row (the active agent steps down at max_failures)",
      registers,
    }),
    drills: new Counter({
      name: "cairn_snapshot_agent_restore_drills_total",
      help: "Restore drills of the newest backup, by result",
      labelNames: ["result"],
      registers,
    }),
    drillSeconds: new Gauge({
      name: "cairn_snapshot_agent_restore_drill_duration_seconds",
      help: "Time of the last restore drill",
      registers,
    }),
    lastDrillSuccessSeconds: new Gauge({
      name: "cairn_snapshot_agent_last_drill_success_timestamp_seconds",
      help: "Unix time of the last restore drill that passed (the backup restored and matched)",
      registers,
    }),
  };
}
