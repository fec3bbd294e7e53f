/**
 * Interval checks (HTTP, TCP): a probe runs every Interval, the first run after a random stagger within the
 * interval as Consul does (lib.RandomStagger), so that many checks registered at once do not fire together.
 * A run still in flight when the next falls due is not doubled: the next one is armed when it ends.
 */

import { errorText } from "../util/errors.js";
import type { CheckStatus } from "./defs.js";
import type { Timers } from "./timers.js";

export interface ProbeResult {
  readonly status: CheckStatus;
  readonly output: string;
}

/** Consul's default timeout of HTTP and TCP checks. */
export const PROBE_TIMEOUT_MS_DEFAULT = 10_000;
/** Consul raises a shorter interval to its MinInterval (1 s). */
export const PROBE_INTERVAL_MS_MIN = 1000;

/** Go's error text for a failed dial, from a Node socket error. */
export function dialError(addr: string, err: unknown): string {
  const e = err as { code?: string; message?: string };
  const reason =
    e.code === "ECONNREFUSED"
      ? "connect: connection refused"
      : e.code === "ETIMEDOUT"
        ? "i/o timeout"
        : e.code === "ENOTFOUND" || e.code === "EAI_AGAIN"
          ? `lookup ${addr.replace(/:\d+$/, "")}: no such host`
          : (e.message ?? String(err));
  return `dial tcp ${addr}: ${reason}`;
}

export class IntervalRunner {
  private cancel: (() => void) | null = null;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly timers: Timers,
    private readonly intervalMs: number,
    /** Runs one probe; `signal` aborts it when the runner stops (shutdown must not wait for a slow target). */
    private readonly probe: (signal: AbortSignal) => Promise<ProbeResult>,
    private readonly report: (r: ProbeResult) => void,
    /** A number in [0, 1): the first run comes after this fraction of the interval. */
    stagger: number,
  ) {
    this.arm(Math.floor(Math.max(PROBE_INTERVAL_MS_MIN, intervalMs) * stagger));
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.cancel = this.timers.setTimeout(() => void this.run(), ms);
  }

  private async run(): Promise<void> {
    this.cancel = null;
    let r: ProbeResult;
    try {
      r = await this.probe(this.abort.signal);
    } catch (e) {
      r = { status: "critical", output: errorText(e) };
    }
    if (this.stopped) return;
    this.report(r);
    this.arm(Math.max(PROBE_INTERVAL_MS_MIN, this.intervalMs));
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
    this.abort.abort();
  }
}

/**
 * Consul's StatusHandler: a probe's result changes the check's status only after SuccessBeforePassing
 * consecutive passing (or warning) results; critical results turn the check critical after
 * FailuresBeforeCritical of them, and warning after FailuresBeforeWarning (which defaults to the former).
 */
export class Thresholds {
  private successes = 0;
  private failures = 0;
  private readonly failuresBeforeWarning: number;

  constructor(
    private readonly successBeforePassing: number,
    private readonly failuresBeforeCritical: number,
    failuresBeforeWarning = 0,
  ) {
    this.failuresBeforeWarning = failuresBeforeWarning > 0 ? failuresBeforeWarning : failuresBeforeCritical;
  }

  /** The status to apply for this result, or null to leave the check as it is. */
  admit(r: ProbeResult): ProbeResult["status"] | null {
    if (r.status === "critical") {
      this.failures++;
      this.successes = 0;
      if (this.failures >= this.failuresBeforeCritical) return "critical";
      return this.failures >= this.failuresBeforeWarning ? "warning" : null;
    }
    this.successes++;
    this.failures = 0;
    return this.successes >= this.successBeforePassing ? r.status : null;
  }
}
