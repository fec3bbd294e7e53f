/**
 * Consul's JSON summary of /v1/agent/metrics (go-metrics' InmemSink.DisplayMetrics: MetricsSummary with
 * Timestamp, Gauges, Points, Counters, Samples), built from the server's Prometheus registry. Prometheus keeps
 * totals since start where go-metrics keeps 10 s intervals, so a counter or histogram here covers the server's
 * whole life (`windowSeconds`, for Rate), and a histogram's Min, Max and Stddev come from its buckets: the lowest
 * and highest occupied bucket bounds, and the sample deviation of bucket midpoints (docs/consul-compat.md §8.7a).
 */
import type { MetricFamily } from "../api/types.js";
import type { GoJson } from "./json.js";

const INTERVAL_MS = 10_000;

type Labels = Record<string, string>;
type Value = MetricFamily["values"][number];

/** Go's time.Time.String() of a UTC instant at whole seconds: `2026-12-07 13:40:00 +0000 UTC`. */
function goUtcString(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace("T", " ")} +0000 UTC`;
}

function labelsOf(v: Value): Labels {
  const out: Labels = {};
  for (const [k, x] of Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (k !== "le" && x !== undefined) out[k] = String(x);
  }
  return out;
}

/** The values of a family grouped by label set (a histogram's `le` aside), in first-seen order. */
function bySeries(f: MetricFamily): Map<string, { labels: Labels; values: Value[] }> {
  const series = new Map<string, { labels: Labels; values: Value[] }>();
  for (const v of f.values) {
    const labels = labelsOf(v);
    const key = JSON.stringify(labels);
    const s = series.get(key) ?? { labels, values: [] };
    s.values.push(v);
    series.set(key, s);
  }
  return series;
}

interface Aggregate {
  count: number;
  sum: number;
  min: number;
  max: number;
  stddev: number;
}

/** Count and sum from `_count`/`_sum`; Min, Max, Stddev from the cumulative `_bucket` rows. */
function histogram(values: readonly Value[]): Aggregate {
  const pick = (suffix: string): number => values.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
  const count = pick("_count");
  const sum = pick("_sum");
  const buckets = values
    .filter((v) => v.metricName?.endsWith("_bucket") && v.labels.le !== "+Inf")
    .map((v) => ({ le: Number(v.labels.le), cumulative: v.value }))
    .sort((a, b) => a.le - b.le);
  let min = 0;
  let max = 0;
  let prevLe = 0;
  let prevCum = 0;
  let seen = false;
  let s1 = 0;
  let sq = 0;
  for (const b of buckets) {
    const n = b.cumulative - prevCum;
    if (n > 0) {
      if (!seen) min = prevLe;
      seen = true;
      max = b.le;
      const mid = (prevLe + b.le) / 2;
      s1 += n * mid;
      sq += n * mid * mid;
    }
    prevLe = b.le;
    prevCum = b.cumulative;
  }
  // Observations past the last finite bucket: known only to be above it.
  if (count > prevCum && prevCum >= 0) {
    if (!seen) min = prevLe;
    max = Math.max(max, prevLe);
    s1 += (count - prevCum) * prevLe;
    sq += (count - prevCum) * prevLe * prevLe;
  }
  // The sample variance of the bucket positions (each observation at its bucket's midpoint).
  const variance = count > 1 ? Math.max(0, (sq - (s1 * s1) / count) / (count - 1)) : 0;
  return { count, sum, min, max, stddev: Math.sqrt(variance) };
}

/** A go-metrics SampledValue in its JSON field order (Name, AggregateSample's fields, Mean, Stddev, Labels). */
function sampled(name: string, labels: Labels, a: Aggregate, windowSeconds: number): GoJson {
  return {
    Name: name,
    Count: a.count,
    Rate: windowSeconds > 0 ? a.sum / windowSeconds : 0,
    Sum: a.sum,
    Min: a.min,
    Max: a.max,
    Mean: a.count > 0 ? a.sum / a.count : 0,
    Stddev: a.stddev,
    Labels: labels,
  };
}

export function metricsSummary(families: readonly MetricFamily[], now: Date, windowSeconds: number): GoJson {
  const gauges: GoJson[] = [];
  const counters: GoJson[] = [];
  const samples: GoJson[] = [];
  for (const f of families) {
    for (const { labels, values } of bySeries(f).values()) {
      if (f.type === "gauge") {
        for (const v of values) gauges.push({ Name: f.name, Value: v.value, Labels: labels });
      } else if (f.type === "counter") {
        // cairn's counters count events one at a time: the total is both the count and the sum.
        const total = values.reduce((s, v) => s + v.value, 0);
        const one = total > 0 ? 1 : 0;
        counters.push(
          sampled(f.name, labels, { count: total, sum: total, min: one, max: one, stddev: 0 }, windowSeconds),
        );
      } else {
        samples.push(sampled(f.name, labels, histogram(values), windowSeconds));
      }
    }
  }
  const interval = new Date(Math.floor(now.getTime() / INTERVAL_MS) * INTERVAL_MS);
  return {
    Timestamp: goUtcString(interval),
    Gauges: gauges,
    Points: [],
    Counters: counters,
    Samples: samples,
  };
}
