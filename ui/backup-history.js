/**
 * The snapshot agent's backup history as the Backups view reads it: the KV key's value decoded
 * (docs/snapshot-agent.md, "The backup history") and each entry's anomalies, by rules written once here and
 * documented in docs/ui.md. Pure (no DOM), so it is tested under Node (test/ui-backups.test.ts).
 */

/** The summary's format version this page reads. */
export const HISTORY_VERSION = 1;
/** A size below this share of the recent median is a drop worth a look (a lost prefix, an emptied table…). */
export const SIZE_DROP_RATIO = 0.5;
/** The median is of this many previous stored backups, and needs at least SIZE_MIN_SAMPLES of them. */
export const SIZE_WINDOW = 10;
export const SIZE_MIN_SAMPLES = 3;
/** A gap between two attempts longer than this many intervals means backups were missed. */
export const GAP_INTERVALS = 2;

/** The document in a /v1/kv/<key> answer (an array of one KV pair, its Value base64), or throws saying why. */
export function decodeHistory(pairs) {
  const value = pairs?.[0]?.Value;
  if (typeof value !== "string" || value === "") throw new Error("the history key is empty");
  const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  let doc;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`the history key does not hold the snapshot agent's history (${e.message})`);
  }
  if (doc?.version !== HISTORY_VERSION || !Array.isArray(doc.entries)) {
    throw new Error(
      `the history key holds a summary of another version (${doc?.version}): upgrade this agent`,
    );
  }
  return doc;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The entries (oldest first) with `anomalies`, a list of short texts: a failed attempt, a backup not verified, a
 * failed drill, a size drop beyond SIZE_DROP_RATIO of the median of the previous SIZE_WINDOW stored backups, and
 * a gap of more than GAP_INTERVALS × `intervalMs` since the previous attempt.
 */
export function withAnomalies(entries, intervalMs) {
  const sizes = [];
  return entries.map((e, i) => {
    const anomalies = [];
    if (e.error !== undefined) anomalies.push(`failed: ${e.error}`);
    else if (!e.verified) anomalies.push("not verified");
    if (e.drill !== undefined && !e.drill.ok) anomalies.push(`restore drill failed: ${e.drill.error}`);
    if (e.error === undefined && e.size > 0) {
      const recent = sizes.slice(-SIZE_WINDOW);
      if (recent.length >= SIZE_MIN_SAMPLES) {
        const m = median(recent);
        if (e.size < m * SIZE_DROP_RATIO) {
          anomalies.push(`size drop: ${Math.round((100 * e.size) / m)}% of the recent median`);
        }
      }
      sizes.push(e.size);
    }
    const prev = entries[i - 1];
    if (prev !== undefined && intervalMs > 0 && e.timeMs - prev.timeMs > GAP_INTERVALS * intervalMs) {
      anomalies.push(`gap: ${durationText(e.timeMs - prev.timeMs)} since the previous attempt`);
    }
    return { ...e, anomalies };
  });
}

/**
 * A warning when the newest attempt is older than GAP_INTERVALS × interval at `nowMs` (no agent is taking
 * backups: none runs, none holds the lock, or it cannot reach the servers), else null. The gap rule above only
 * sees a gap once the next attempt ends it; this sees it while it lasts.
 */
export function staleness(doc, nowMs) {
  const interval = doc.status.intervalMs;
  if (!(interval > 0)) return null;
  const since = doc.entries.at(-1)?.timeMs ?? doc.updatedMs;
  if (nowMs - since <= GAP_INTERVALS * interval) return null;
  return (
    `No backup attempt for ${durationText(nowMs - since)}, more than ${GAP_INTERVALS} × the interval ` +
    `(${durationText(interval)}): is a snapshot agent running, holding the lock and reaching the servers?`
  );
}

/** A duration for people: 850 ms, 12.3 s, 4 min 10 s, 2 h 5 min. */
export function durationText(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
