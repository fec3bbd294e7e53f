import type { KvEntry, KvSnapshot, KvStore, SessionEntry } from "../fsm/index.js";
import { encodeHeader } from "../snapshot/index.js";
import { fnv1a, fnv1aBytes } from "../util/hash.js";

/**
 * A fingerprint of a store's state at raft index `applied`, checked after every apply on every replica (in both
 * run), so it is cheap: the fields of every table row hashed directly, not the encoded records (snapshots,
 * compared byte for byte when saved, cover the encoding), and each row's hash cached by the row object, which
 * the store never mutates. Lock-delays and the FSM's clock are replicated state, carried by snapshots beside
 * state.bin: in it too.
 */
export function stateDigest(s: KvStore, applied: number): number {
  let h = combine(0x811c9dc5, applied);
  // Rows in key order, a leaf's values at a time (no [key, value] pair per row: this runs after every apply).
  for (const run of s.kv.valueRuns()) for (const e of run) h = combine(h, entryHash(e));
  for (const [key, t] of s.tombstones.entries()) {
    let th = rowHashes.get(t);
    if (th === undefined) {
      th = fnv1a(`t${key}\0${t.index}`);
      rowHashes.set(t, th);
    }
    h = combine(h, th);
  }
  for (const run of s.sessions.valueRuns()) for (const x of run) h = combine(h, sessionHash(x));
  // The index table is a Map whose insertion order differs between a restored and an applying store, so
  // its rows are combined in an order-free way (one row per table).
  let rows = 0;
  for (const [table, row] of s.index) {
    let rh = rowHashes.get(row);
    if (rh === undefined) {
      rh = fnv1a(`i${table}\0${row.value}`);
      rowHashes.set(row, rh);
    }
    rows = (rows + rh) >>> 0;
  }
  h = combine(combine(h, rows), s.lockClock);
  // Deadlines: few (keys released within the last 60 s), combined order-free like the index rows.
  let delays = 0;
  for (const [key, until] of s.lockDelays) delays = (delays + fnv1a(`d${key}\0${until}`)) >>> 0;
  return combine(h, delays);
}

/** Row object → its hash. Rows are immutable (a write stores a new object), so the cache never goes stale. */
const rowHashes = new WeakMap<object, number>();

function entryHash(e: KvEntry): number {
  let h = rowHashes.get(e);
  if (h === undefined) {
    // The value's bytes hashed as they are (a text of them would cost a string per byte); "v"/"nil" apart.
    const fields = `k${e.Key}\0${e.Flags}\0${e.CreateIndex}\0${e.ModifyIndex}\0${e.LockIndex}\0${e.Session}\0`;
    h = e.Value === null ? fnv1a(`${fields}nil`) : fnv1aBytes(e.Value, fnv1a(`${fields}v`));
    rowHashes.set(e, h);
  }
  return h;
}

function sessionHash(x: SessionEntry): number {
  let h = rowHashes.get(x);
  if (h === undefined) {
    h = fnv1a(sessionText(x));
    rowHashes.set(x, h);
  }
  return h;
}

function sessionText(x: SessionEntry): string {
  const checks = JSON.stringify([x.NodeChecks, x.ServiceChecks]);
  return `s${x.ID}\0${x.Name}\0${x.Node}\0${x.LockDelay}\0${x.Behavior}\0${x.TTL}\0${x.CreateIndex}\0${x.ModifyIndex}\0${checks}`;
}

function combine(h: number, row: number): number {
  return Math.imul((h ^ row) >>> 0, 0x01000193) >>> 0;
}

const decoder = new TextDecoder();

export function valueText(e: KvEntry | null): string | null {
  if (e === null) return null;
  return e.Value === null ? "" : decoder.decode(e.Value);
}

/** state.bin of a store view: the msgpack header, then each record as its type byte and msgpack body. */
export function encodeStateBin(view: KvSnapshot): Uint8Array {
  const parts: Uint8Array[] = [encodeHeader(view.header())];
  for (const r of view.records()) parts.push(Uint8Array.of(r.type), r.body);
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
