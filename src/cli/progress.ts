/**
 * A transfer progress bar (bytes so far, rate, and with a known total the share done and an ETA) on stderr,
 * drawn by cli-progress. Only when stderr is a terminal: piped or captured stderr (scripts, CI logs, tests)
 * gets nothing at all, so it stays exactly as Consul's commands leave it.
 */
import { createRequire } from "node:module";
import type { Options, Params } from "cli-progress";
import type { Writer } from "./command.js";

/**
 * cli-progress (CommonJS, some 20 files), required only when a bar is drawn: a piped or captured stderr, every
 * script's case, does not pay for loading it at start-up. Synchronous, so `progress()` stays synchronous.
 */
const requireCjs = createRequire(import.meta.url);
function cliProgress(): typeof import("cli-progress") {
  return requireCjs("cli-progress") as typeof import("cli-progress");
}

/** Redraws per second; more only costs terminal writes. */
const FPS = 4;
const BAR_CHARS = 24;
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

/** 75 → "1m15s"; under a minute as seconds. */
export function formatEta(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

function isTty(w: Writer): boolean {
  return "isTTY" in w && (w as { isTTY?: unknown }).isTTY === true;
}

export interface Progress {
  add(bytes: number): void;
  /** Sets the expected total (e.g. once the server's size estimate arrives); 0 or less: unknown. */
  setTotal(bytes: number): void;
  /** Draws the final figures and ends the line, so the command's own message starts on a fresh one. */
  done(): void;
}

const QUIET: Progress = { add: () => {}, setTotal: () => {}, done: () => {} };

/**
 * One line: `label [=====-----]  45% 12.0 MiB / 26.6 MiB, 20.1 MiB/s, ETA 1s`, or without a total
 * `label 12.0 MiB, 20.1 MiB/s`. The rate is the average since the start; the ETA is cli-progress's, over its
 * recent updates. A value past an estimated total shows as 100 %.
 */
export function formatLine(
  label: string,
  p: Pick<Params, "value" | "total" | "startTime" | "eta">,
  nowMs: number,
) {
  const secs = Math.max((nowMs - p.startTime) / 1000, 0.001);
  const rate = `${formatBytes(Math.round(p.value / secs))}/s`;
  if (!(p.total > 0)) return `${label} ${formatBytes(p.value)}, ${rate}`;
  const share = Math.min(1, p.value / p.total);
  const full = Math.round(share * BAR_CHARS);
  const bar = `${"=".repeat(full)}${"-".repeat(BAR_CHARS - full)}`;
  const pct = `${Math.floor(share * 100)}%`.padStart(4);
  const eta = share >= 1 ? "0s" : Number.isFinite(p.eta) && p.eta > 0 ? formatEta(p.eta) : "?";
  const total = Math.max(p.total, p.value);
  return `${label} [${bar}] ${pct} ${formatBytes(p.value)} / ${formatBytes(total)}, ${rate}, ETA ${eta}`;
}

/**
 * A progress bar labelled `label` when `stderr` is a TTY, for `total` bytes (0: unknown until setTotal);
 * otherwise one that prints nothing.
 */
export function progress(stderr: Writer, label: string, total = 0): Progress {
  if (!isTty(stderr)) return QUIET;
  const options: Options = {
    // cli-progress writes through its own terminal helper: any stream with write() and isTTY serves.
    stream: stderr as unknown as NodeJS.WritableStream,
    fps: FPS,
    format: (_opts, params) => formatLine(label, params, Date.now()),
    hideCursor: false,
    linewrap: false,
    // The bar is only drawn on a terminal (checked above), and a line must not outlive the command.
    noTTYOutput: false,
    clearOnComplete: false,
    stopOnComplete: false,
    gracefulExit: false,
  };
  const bar = new (cliProgress().SingleBar)(options);
  let value = 0;
  let stopped = false;
  bar.start(Math.max(0, total), 0);
  return {
    add(n) {
      if (stopped) return;
      value += n;
      bar.update(value);
    },
    setTotal(n) {
      if (!stopped && n > 0) bar.setTotal(n);
    },
    done() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
