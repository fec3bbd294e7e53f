/**
 * The snapshot agent's life: one shot (interval 0: one backup, retention, exit), or a daemon where any number
 * of agents run and exactly one is active. The active one holds a Consul lock on `lock_key` (a session and a KV
 * acquire, docs/consul-compat.md §6.4); standbys wait on it with a blocking query. Backups fall on a fixed grid
 * of ticks (multiples of the interval since the Unix epoch), and the active agent records the last tick it
 * completed in the lock key's value, so an agent that takes over after a failover neither repeats a tick nor
 * waits a whole interval: exactly one backup per tick. `max_failures` failures in a row hand the lock over.
 *
 * Takeover time: the session has Consul's smallest TTL (10 s, reaped after 2 × TTL) and a 1 s lock-delay, so
 * after a kill -9 of the active agent a standby holds the lock within about 20 s + 1 s + one lock retry (5 s):
 * under 30 s. Consul's own defaults (15 s TTL, 15 s lock-delay) would take up to 45 s.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type ConsulClient, Lock } from "../client/index.js";
import { errorText } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { sleep } from "../util/sleep.js";
import { BackupError, type BackupOutcome, type Target, takeBackup } from "./backup.js";
import type { SnapshotAgentConfig } from "./config-types.js";
import { runDrill } from "./drill.js";
import { DrillSchedule } from "./drill-schedule.js";
import { HistoryWriter } from "./history-writer.js";
import type { AgentMetrics } from "./metrics.js";
import type { HealthState } from "./status.js";

export const SESSION_TTL = "10s";
export const LOCK_DELAY = "1s";
/** The alive check's TTL, and how often it is refreshed (a third of it: two refreshes may fail in a row). */
const ALIVE_TTL_MS = 30_000;
/** After giving up the lock at max_failures, stay out of the race this long so that a standby takes over. */
const STEP_DOWN_MS = 15_000;
/** Monitor errors (500s) tolerated while holding the lock, as `consul lock -monitor-retry`. */
const MONITOR_RETRIES = 3;

export interface AgentOptions {
  readonly config: SnapshotAgentConfig;
  readonly client: ConsulClient;
  readonly targets: readonly Target[];
  readonly encryptionKey: Uint8Array | null;
  readonly metrics: AgentMetrics;
  readonly log: Logger;
  readonly now?: () => number;
}

/** What the active agent writes into the lock key after each verified backup. */
interface LastTick {
  readonly tick: number;
  readonly timeMs: number;
  readonly id: string;
  readonly index: string;
}

export class SnapshotAgent {
  private readonly o: AgentOptions;
  private readonly now: () => number;
  private readonly serviceId: string;
  private lastSuccessMs = 0;
  private lastError = "";
  private active = false;
  private readonly startedMs: number;
  private readonly drills: DrillSchedule;
  private readonly history: HistoryWriter;

  constructor(o: AgentOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.startedMs = this.now();
    this.serviceId = `${o.config.service}-${hostname()}-${randomUUID().slice(0, 8)}`;
    this.drills = new DrillSchedule({
      intervalMs: o.config.drillIntervalMs,
      run: (signal) =>
        runDrill({
          stores: o.targets.map((t) => t.store),
          encryptionKey: o.encryptionKey,
          scratchDir: o.config.localScratchPath,
          log: o.log,
          signal,
        }),
      metrics: o.metrics,
      log: o.log,
      now: this.now,
    });
    this.history = new HistoryWriter({
      client: o.client,
      key: o.config.historyKey,
      stores: o.targets.map((t) => t.store),
      log: o.log,
      now: this.now,
    });
  }

  health(): HealthState {
    return {
      startedMs: this.startedMs,
      lastSuccessMs: this.lastSuccessMs,
      lastError: this.lastError,
      active: this.active,
      lastDrill: this.drills.lastDrill(),
    };
  }

  /** Interval 0: one backup and retention, no election, no registration. 0 on success, 1 on failure. */
  async runOnce(): Promise<number> {
    await this.sweep();
    try {
      await this.backup();
      return 0;
    } catch {
      return 1;
    }
  }

  /** The daemon, until `stop` fires; resolves the exit code. */
  async run(stop: AbortSignal): Promise<number> {
    const { log, config } = this.o;
    log.info("Snapshot agent running");
    const alive = this.keepAlive(stop);
    try {
      while (!stop.aborted) {
        log.info("Waiting to obtain leadership...");
        const lock = new Lock(this.o.client, {
          key: config.lockKey,
          sessionName: "Consul Snapshot Agent",
          sessionTtl: SESSION_TTL,
          lockDelay: LOCK_DELAY,
          monitorRetries: MONITOR_RETRIES,
          keepValue: true,
        });
        let lost: AbortSignal | null;
        try {
          lost = await lock.lock(stop);
        } catch (e) {
          this.lastError = `failed to obtain leadership: ${errorText(e)}`;
          log.error(`Failed to obtain leadership, retrying: ${errorText(e)}`);
          await sleep(5000, stop);
          continue;
        }
        if (lost === null) break;
        log.info("Obtained leadership");
        const gaveUp = await this.lead(lock, lost, stop);
        if (gaveUp) await sleep(STEP_DOWN_MS, stop);
      }
    } finally {
      await alive;
      await this.o.client.agentServiceDeregister(this.serviceId).catch(() => undefined);
    }
    log.info("Snapshot agent stopped");
    return 0;
  }

  /** Takes backups on the tick grid while the lock holds; true when it stepped down at max_failures. */
  private async lead(lock: Lock, lost: AbortSignal, stop: AbortSignal): Promise<boolean> {
    const { config, metrics, log } = this.o;
    this.active = true;
    metrics.isActive.set(1);
    const both = AbortSignal.any([lost, stop]);
    await this.registerSaving();
    await this.sweep();
    this.drills.startLeadership();
    let failures = 0;
    let gaveUp = false;
    try {
      let done = await this.lastTick();
      // At once: the UI names the new active agent, and a key a restore rolled back heals from the stores.
      await this.writeHistory(done === null ? this.now() : (done.tick + 1) * config.intervalMs);
      while (!both.aborted) {
        const current = Math.floor(this.now() / config.intervalMs);
        if (done !== null && done.tick >= current) {
          await sleep((current + 1) * config.intervalMs - this.now(), both);
          continue;
        }
        try {
          const b = await this.backup();
          failures = 0;
          done = { tick: current, timeMs: this.now(), id: b.id, index: String(b.index) };
          if (!(await lock.setValue(new TextEncoder().encode(JSON.stringify(done))).catch(() => false))) {
            log.warn(
              "could not record the completed tick in the lock key; the next active agent may repeat it",
            );
          }
          await this.savingStatus("passing", `Saved snapshot ${b.id}`);
          await this.writeHistory((current + 1) * config.intervalMs);
          const drill = await this.drills.afterBackup(both);
          if (drill !== null && drill.name !== "") {
            this.history.recordDrill(drill.name, {
              ok: drill.ok,
              atMs: this.now(),
              seconds: drill.seconds,
              keys: drill.keys,
              error: drill.error ?? "",
            });
            await this.writeHistory((current + 1) * config.intervalMs);
          }
        } catch (e) {
          failures += 1;
          metrics.consecutiveFailures.set(failures);
          await this.savingStatus("critical", `Snapshot failed: ${errorText(e)}`);
          // Consul retries at the next interval; so does cairn: the failed tick is not taken again.
          done = { tick: current, timeMs: done?.timeMs ?? 0, id: done?.id ?? "", index: done?.index ?? "" };
          await this.writeHistory((current + 1) * config.intervalMs);
          if (failures >= config.maxFailures) {
            log.error(
              `${failures} snapshots failed in a row (max_failures ${config.maxFailures}): giving up leadership`,
            );
            gaveUp = true;
            break;
          }
        }
      }
    } finally {
      this.active = false;
      metrics.isActive.set(0);
      await this.o.client.agentCheckDeregister(this.savingCheckId()).catch(() => undefined);
      if (!lost.aborted)
        await lock.unlock().catch((e: unknown) => log.warn(`releasing the lock: ${errorText(e)}`));
      else {
        this.lastError = `lost leadership of ${config.lockKey} (session or lock gone, or the servers unreachable)`;
        log.warn("Lost leadership");
      }
    }
    return gaveUp;
  }

  /** One backup with Consul's log lines; rethrows after logging. */
  private async backup(): Promise<BackupOutcome> {
    const { config, metrics, log } = this.o;
    const t0 = this.now();
    try {
      const b = await takeBackup({
        client: this.o.client,
        targets: this.o.targets,
        scratchDir: config.localScratchPath,
        stale: config.stale,
        retention: config.retention,
        encryptionKey: this.o.encryptionKey,
        now: this.now,
        metrics,
        log: (level, msg) => log[level](msg),
      });
      this.lastSuccessMs = this.now();
      this.lastError = "";
      metrics.snapshots.inc({ result: "success" });
      metrics.lastSuccessSeconds.set(this.lastSuccessMs / 1000);
      metrics.consecutiveFailures.set(0);
      log.info(`Saved snapshot ${b.id}`);
      this.history.record({
        id: b.id,
        name: b.name,
        timeMs: t0,
        index: Number(b.index),
        size: b.bytes,
        durationMs: this.now() - t0,
        verified: true,
        encrypted: this.o.encryptionKey !== null,
        destinations: this.o.targets.map((t) => t.store.label),
      });
      return b;
    } catch (e) {
      this.lastError = errorText(e);
      this.history.record({
        id: String(BigInt(t0) * 1_000_000n),
        name: "",
        timeMs: t0,
        index: 0,
        size: 0,
        durationMs: this.now() - t0,
        verified: false,
        encrypted: this.o.encryptionKey !== null,
        destinations: [],
        // The history keeps 200 attempts in one value: a failure's text is cut at a length that stays readable.
        error: this.lastError.length > 500 ? `${this.lastError.slice(0, 500)}…` : this.lastError,
      });
      metrics.snapshots.inc({ result: "failure" });
      log.error(`Snapshot failed (will retry at next interval): ${this.lastError}`);
      throw e instanceof BackupError ? e : new BackupError(this.lastError);
    } finally {
      metrics.snapshotSeconds.observe((this.now() - t0) / 1000);
    }
  }

  /** The summary for the UI (history.ts), with this agent as the active one; `nextRunMs`: the next tick. */
  private async writeHistory(nextRunMs: number): Promise<void> {
    await this.history.write({
      agent: this.serviceId,
      intervalMs: this.o.config.intervalMs,
      nextRunMs,
      lastError: this.lastError,
    });
  }

  /** Leftovers of interrupted uploads (a crashed agent's temp files) go before this agent writes. */
  private async sweep(): Promise<void> {
    for (const t of this.o.targets) {
      try {
        const removed = (await t.store.sweep?.()) ?? [];
        if (removed.length > 0)
          this.o.log.info(`removed ${removed.length} leftovers of interrupted uploads from ${t.store.label}`);
      } catch (e) {
        this.o.log.warn(`sweeping ${t.store.label}: ${errorText(e)}`);
      }
    }
  }

  /** The last tick recorded in the lock key by whoever was active, or null. */
  private async lastTick(): Promise<LastTick | null> {
    try {
      const entry = (await this.o.client.kvGet(this.o.config.lockKey, { consistent: true })).entry;
      if (entry === null || entry.value.length === 0) return null;
      const v = JSON.parse(new TextDecoder().decode(entry.value)) as Partial<LastTick>;
      if (typeof v.tick !== "number" || typeof v.timeMs !== "number") return null;
      if (v.timeMs > this.lastSuccessMs) this.lastSuccessMs = v.timeMs;
      return { tick: v.tick, timeMs: v.timeMs, id: String(v.id ?? ""), index: String(v.index ?? "") };
    } catch (e) {
      this.o.log.warn(`reading the last completed tick: ${errorText(e)}`);
      return null;
    }
  }

  // ---- registration on the local agent ----

  private aliveCheckId(): string {
    return `${this.serviceId}:alive`;
  }

  private savingCheckId(): string {
    return `${this.serviceId}:saving`;
  }

  /** Registers the service with its alive check, then refreshes the check until `stop`; re-registers on errors. */
  private async keepAlive(stop: AbortSignal): Promise<void> {
    const { config, client, log } = this.o;
    let registered = false;
    while (!stop.aborted) {
      try {
        if (!registered) {
          const deregister =
            config.deregisterAfterMs > 0
              ? { DeregisterCriticalServiceAfter: `${config.deregisterAfterMs}ms` }
              : {};
          await client.agentServiceRegister({
            ID: this.serviceId,
            Name: config.service,
            Check: {
              CheckID: this.aliveCheckId(),
              Name: "Consul Snapshot Agent Alive",
              TTL: `${ALIVE_TTL_MS}ms`,
              Status: "passing",
              ...deregister,
            },
          });
          registered = true;
        }
        await client.agentCheckUpdate(
          this.aliveCheckId(),
          "passing",
          `alive; ${this.active ? "active" : "standby"}`,
        );
        // A standby's health follows the active agent's backups, as recorded in the lock key.
        if (!this.active) await this.lastTick();
      } catch (e) {
        registered = false;
        log.warn(`registering the snapshot agent's service: ${errorText(e)}`);
      }
      // Often enough for the alive check, and for a standby's health to follow a short interval's backups.
      await sleep(Math.min(ALIVE_TTL_MS / 3, Math.max(500, config.intervalMs / 2)), stop);
    }
  }

  private async registerSaving(): Promise<void> {
    const ttlMs = 2 * this.o.config.intervalMs + 60_000;
    await this.o.client
      .agentCheckRegister({
        CheckID: this.savingCheckId(),
        Name: "Consul Snapshot Agent Saving Snapshots",
        ServiceID: this.serviceId,
        TTL: `${ttlMs}ms`,
        Status: "passing",
        Notes: "Passing while this agent is active and its snapshots succeed",
      })
      .catch((e: unknown) => this.o.log.warn(`registering the saving-snapshots check: ${errorText(e)}`));
  }

  private async savingStatus(status: "passing" | "critical", output: string): Promise<void> {
    await this.o.client
      .agentCheckUpdate(this.savingCheckId(), status, output)
      .catch((e: unknown) => this.o.log.warn(`updating the saving-snapshots check: ${errorText(e)}`));
  }
}
