/**
 * Background RSS sampling of a process (Linux only) for the snapshot benchmark: VmRSS from /proc/<pid>/status
 * every ~20 ms. The sampler is a timer in this process, so it stays cheap (one small synchronous read per tick)
 * and sees short peaks that a once-per-second `ps` would miss; a peak shorter than the interval can still be
 * missed, which makes the reported max a lower bound.
 */
import { readFileSync } from "node:fs";

export interface RssStats {
  /** RSS when sampling started, in bytes. */
  readonly baselineBytes: number;
  /** Highest RSS seen while sampling (baseline included), in bytes. */
  readonly maxBytes: number;
  readonly samples: number;
}

export interface RssSampler {
  /** Stops the timer (idempotent) and returns what it saw, with one last sample taken now. */
  stop(): RssStats;
}

/** The process's resident set size in bytes, or null when it is gone or /proc is unreadable. */
export function readRss(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null; // exited between ticks: the figures so far stand
  }
}

/**
 * Starts sampling `pid` now. The baseline is the first sample, so start the sampler right before the
 * operation being measured. Throws when the first read fails: a sampler of nothing would report 0 as a peak.
 */
export function sampleRss(pid: number, intervalMs = 20): RssSampler {
  const baseline = readRss(pid);
  if (baseline === null) throw new Error(`cannot read VmRSS of pid ${pid} from /proc`);
  let max = baseline;
  let samples = 1;
  const tick = () => {
    const rss = readRss(pid);
    samples++;
    if (rss !== null && rss > max) max = rss;
  };
  // unref: a forgotten sampler must not keep the benchmark alive after everything else ended.
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  let result: RssStats | null = null;
  return {
    stop() {
      if (result === null) {
        clearInterval(timer);
        tick();
        result = { baselineBytes: baseline, maxBytes: max, samples };
      }
      return result;
    },
  };
}
