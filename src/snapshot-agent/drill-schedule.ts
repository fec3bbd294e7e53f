/**
 * When the active agent runs restore drills (`drill_interval`), and what it does with their reports: the first
 * drill of a leadership follows its first successful backup, then one follows the first successful backup at
 * least `drill_interval` after the previous drill started. Drills run between backups in the agent's loop, never
 * beside one, so the two never compete for the scratch space or the servers. A failed drill is logged, counted
 * and shown on /health's reason; it is not a failed snapshot (the backup verified; the drill says more).
 */
import type { Logger } from "../util/logger.js";
import type { DrillReport } from "./drill.js";
import type { AgentMetrics } from "./metrics.js";

/** The last drill's verdict, for /health. */
export interface LastDrill {
  readonly ok: boolean;
  /** When it ended (ms). */
  readonly atMs: number;
  readonly name: string;
  /** Why it failed, "" when it passed. */
  readonly error: string;
}

export interface DrillScheduleOptions {
  /** `drill_interval` in ms; 0 turns drills off. */
  readonly intervalMs: number;
  /** Runs one drill (runDrill with the agent's stores, key and scratch path). */
  readonly run: (signal: AbortSignal) => Promise<DrillReport>;
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  readonly now: () => number;
}

export class DrillSchedule {
  private readonly o: DrillScheduleOptions;
  /** When the next drill is due (ms); 0: at the next successful backup. */
  private dueMs = 0;
  private last: LastDrill | null = null;

  constructor(o: DrillScheduleOptions) {
    this.o = o;
  }

  /** A new leadership: its first drill follows its first successful backup. */
  startLeadership(): void {
    this.dueMs = 0;
  }

  lastDrill(): LastDrill | null {
    return this.last;
  }

  /**
   * Called after each successful backup: runs a drill when drills are on and one is due. Resolves its report,
   * or null when none ran (or it was aborted, which says nothing about the backup).
   */
  async afterBackup(signal: AbortSignal): Promise<DrillReport | null> {
    const { intervalMs, metrics, log, now } = this.o;
    if (intervalMs <= 0 || signal.aborted || now() < this.dueMs) return null;
    const started = now();
    const r = await this.o.run(signal);
    this.dueMs = started + intervalMs;
    const name = r.name === "" ? "the newest backup" : r.name;
    if (signal.aborted && !r.ok) {
      // The agent is stopping or lost its lock: the drill says nothing about the backup.
      log.info(`Restore drill of ${name} aborted`);
      return null;
    }
    metrics.drills.inc({ result: r.ok ? "success" : "failure" });
    metrics.drillSeconds.set(r.seconds);
    this.last = { ok: r.ok, atMs: now(), name, error: r.error ?? "" };
    if (r.ok) {
      metrics.lastDrillSuccessSeconds.set(this.last.atMs / 1000);
      log.info(
        `Restore drill of ${name} passed: ${r.keys} keys, index ${r.index}, in ${r.seconds.toFixed(1)} s`,
      );
    } else {
      log.error(`Restore drill of ${name} FAILED: ${r.error ?? "unknown reason"}`);
    }
    return r;
  }
}
