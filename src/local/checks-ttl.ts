/**
 * TTL checks (agent/checks/check.go CheckTTL): the application reports through pass/warn/fail/update; if no report
 * arrives within the TTL the check turns critical with Consul's "TTL expired" output.
 */
import type { Timers } from "./timers.js";

/** Consul's default check_output_max_size. */
export const CHECK_OUTPUT_BYTES_MAX = 4096;

/** Consul's cut of a long output: the first `max` bytes and ` ... (captured <max> of <total> bytes)`. */
export function captureOutput(output: string, maxBytes = CHECK_OUTPUT_BYTES_MAX): string {
  const max = maxBytes > 0 ? maxBytes : CHECK_OUTPUT_BYTES_MAX;
  const bytes = Buffer.from(output, "utf8");
  if (bytes.length <= max) return output;
  // Go slices the string by bytes; a cut rune decodes as U+FFFD here, as Go's JSON encoder writes it.
  return `${bytes.subarray(0, max).toString("utf8")} ... (captured ${max} of ${bytes.length} bytes)`;
}

/** The output a TTL check gets when it expires. */
export function expiredOutput(lastOutput: string): string {
  return lastOutput === ""
    ? "TTL expired"
    : `TTL expired (last output before timeout follows): ${lastOutput}`;
}

/** One TTL check's timer. Invariant: at most one timer armed; none after stop(). */
export class TtlTimer {
  private cancel: (() => void) | null = null;
  private lastOutput = "";
  private stopped = false;

  constructor(
    private readonly timers: Timers,
    private readonly ttlMs: number,
    private readonly onExpire: (output: string) => void,
    lastOutput = "",
  ) {
    this.lastOutput = lastOutput;
  }

  /** (Re)arms the timer for `ms` (the TTL unless told: a restored check keeps what is left of its TTL). */
  reset(output: string, ms = this.ttlMs): void {
    if (this.stopped) return;
    this.lastOutput = output;
    this.cancel?.();
    this.cancel = this.timers.setTimeout(() => {
      this.cancel = null;
      this.onExpire(expiredOutput(this.lastOutput));
    }, ms);
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
  }
}
