/**
 * A one-line transfer progress report (bytes so far and rate) on stderr, redrawn in place. Only when stderr is
 * a terminal: piped or captured stderr (scripts, CI logs, tests) stays exactly as Consul's commands leave it.
 */
import type { Writer } from "./command.js";

/** How often the line is redrawn; more often only costs terminal writes. */
const REDRAW_MS = 250;
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 → "1.5 KiB"; bytes below 1 KiB as a whole number. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

function isTty(w: Writer): boolean {
  return "isTTY" in w && (w as { isTTY?: unknown }).isTTY === true;
}

export interface Progress {
  add(bytes: number): void;
  /** Draws the final figures and ends the line, so the command's own message starts on a fresh one. */
  done(): void;
}

const QUIET: Progress = { add: () => {}, done: () => {} };

/** A progress line labelled `label` when `stderr` is a TTY; otherwise one that prints nothing. */
export function progress(stderr: Writer, label: string, now: () => number = Date.now): Progress {
  if (!isTty(stderr)) return QUIET;
  const t0 = now();
  let bytes = 0;
  let drawn = 0;
  let shown = false;
  const draw = (): void => {
    const secs = Math.max((now() - t0) / 1000, 0.001);
    stderr.write(`\r\x1b[K${label}: ${formatBytes(bytes)} (${formatBytes(Math.round(bytes / secs))}/s)`);
    shown = true;
  };
  return {
    add(n) {
      bytes += n;
      const t = now();
      if (t - drawn >= REDRAW_MS) {
        drawn = t;
        draw();
      }
    },
    done() {
      if (!shown) return;
      draw();
      stderr.write("\n");
    },
  };
}
