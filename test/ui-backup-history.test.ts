/**
 * The Backups view's reading of the history key (ui/backup-history.js) under Node: the KV answer decoded, and
 * each anomaly rule of docs/ui.md (a failure, a backup not verified, a failed drill, a size drop against the
 * recent median, a gap of more than two intervals) firing where it should and nowhere else.
 */
import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

interface Entry {
  id: string;
  timeMs: number;
  size: number;
  durationMs: number | null;
  verified: boolean;
  error?: string;
  drill?: { ok: boolean; error: string };
}
interface HistoryModule {
  decodeHistory(pairs: unknown): { version: number; entries: Entry[] };
  withAnomalies(entries: readonly Entry[], intervalMs: number): (Entry & { anomalies: string[] })[];
  durationText(ms: number): string;
  staleness(doc: unknown, nowMs: number): string | null;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The page's module itself, loaded by its path (plain JavaScript).
const h = (await import(pathToFileURL(join(ROOT, "ui", "backup-history.js")).href)) as HistoryModule;

const MIN = 60_000;
const entry = (i: number, extra: Partial<Entry> = {}): Entry => ({
  id: String(i),
  timeMs: i * MIN,
  size: 1000,
  durationMs: 500,
  verified: true,
  ...extra,
});

function anomalies(entries: readonly Entry[], intervalMs = MIN): string[][] {
  return h.withAnomalies(entries, intervalMs).map((e) => e.anomalies);
}

describe("ui/backup-history.js", () => {
  it("decodes the history key's KV answer, and refuses an empty, foreign or garbled value", () => {
    const doc = { version: 1, updatedMs: 1, status: {}, entries: [entry(1)] };
    const pairs = [
      { Key: "consul-snapshot/history", Value: Buffer.from(JSON.stringify(doc)).toString("base64") },
    ];
    assert.deepEqual(h.decodeHistory(pairs).entries, doc.entries);
    assert.throws(() => h.decodeHistory([{ Value: null }]), /empty/);
    const b64 = (s: string) => [{ Value: Buffer.from(s).toString("base64") }];
    assert.throws(() => h.decodeHistory(b64("{oops")), /does not hold/);
    assert.throws(() => h.decodeHistory(b64('{"version":2,"entries":[]}')), /another version \(2\)/);
  });

  it("steady backups have no anomaly", () => {
    assert.deepEqual(anomalies([1, 2, 3, 4, 5].map((i) => entry(i))), [[], [], [], [], []]);
  });

  it("a size below half the median of the previous ones is a drop; a smaller dip or too little history is not", () => {
    const sizes = [1000, 1100, 900, 600, 400, 1000];
    const got = anomalies(sizes.map((size, i) => entry(i + 1, { size })));
    assert.deepEqual(got, [[], [], [], [], ["size drop: 42% of the recent median"], []]);
    assert.deepEqual(anomalies([entry(1), entry(2, { size: 10 })]), [[], []], "two samples are not a median");
  });

  it("a failure, a backup not verified and a failed drill are marked; a failure does not skew the median", () => {
    const got = anomalies([
      entry(1),
      entry(2, { error: "no leader", size: 0, verified: false }),
      entry(3, { verified: false }),
      entry(4, { drill: { ok: false, error: "keys differ" } }),
      entry(5, { drill: { ok: true, error: "" } }),
    ]);
    assert.deepEqual(got, [
      [],
      ["failed: no leader"],
      ["not verified"],
      ["restore drill failed: keys differ"],
      [],
    ]);
  });

  it("a gap of more than two intervals since the previous attempt is marked", () => {
    const got = anomalies([entry(1), entry(3), entry(6)]);
    assert.deepEqual(got, [[], [], ["gap: 3 min 0 s since the previous attempt"]]);
    assert.deepEqual(anomalies([entry(1), entry(6)], 0), [[], []], "no interval known: no gap rule");
  });

  it("warns while no attempt came for more than two intervals, and not before", () => {
    const doc = { version: 1, updatedMs: 5 * MIN, status: { intervalMs: MIN }, entries: [entry(5)] };
    assert.equal(h.staleness(doc, 7 * MIN), null);
    assert.match(
      h.staleness(doc, 8 * MIN) ?? "",
      /^No backup attempt for 3 min 0 s, more than 2 × the interval/,
    );
    assert.equal(h.staleness({ ...doc, entries: [] }, 6 * MIN), null, "none yet: counted from the write");
    assert.equal(h.staleness({ ...doc, status: { intervalMs: 0 } }, 99 * MIN), null);
  });

  it("writes durations for people", () => {
    assert.deepEqual([850, 12_300, 250_000, 7_500_000].map(h.durationText), [
      "850 ms",
      "12.3 s",
      "4 min 10 s",
      "2 h 5 min",
    ]);
  });
});
