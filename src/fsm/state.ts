/**
 * The KV store's tables and the reads over them, shared by the live store and its snapshots.
 *
 * Index rules are Consul's (agent/consul/state/kvs.go and the KVS endpoint; consul-compat.md §0.5):
 * - the KV table max is max(index["kvs"], index["tombstones"]);
 * - get: the entry's ModifyIndex, else the table max, else 1;
 * - list / keys under a prefix: the max ModifyIndex over the live entries and the tombstones under the
 *   prefix; when that is 0 (nothing there, live or deleted), the table max; for the empty prefix, the table
 *   max directly; and never 0 (1 instead), so a blocking client never sees index 0.
 *   (§0.5 shortens the fallback to "or 1"; Consul falls back to the table max first, and so does cairn.)
 */
import type { DirEntry, Extra, RawRecord } from "../snapshot/index.js";
import type { OrderedMap } from "./btree.js";
import type { KvValue } from "./command.js";

/** Fields of a restored record that cairn does not model, written back as they came. */
export interface Carry {
  readonly Namespace?: string;
  readonly Partition?: string;
  readonly extra?: Extra;
}

/** A KV entry as Consul's API returns it (structs.DirEntry). */
export interface KvEntry {
  readonly Key: string;
  /** uint64 */
  readonly Flags: bigint;
  /** null is Go's nil: a key written with an empty body. */
  readonly Value: KvValue;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly LockIndex: number;
  /** The holding session's id, or "" when unlocked. */
  readonly Session: string;
  /** Only on entries restored from a record with fields beyond these; dropped by the next write. */
  readonly carry?: Carry;
}

/** A deleted key (or delete-tree prefix) and the index of its deletion. */
export interface Tombstone {
  readonly index: number;
  readonly carry?: Carry;
}

/** One row of Consul's index table: table name → highest index written to it. */
export interface IndexRow {
  readonly value: number;
  readonly extra?: Extra;
}

/**
 * An Index record as restored. Consul's index table holds rows for every table (Enterprise names them
 * "partition.default:kvs", and has been seen writing a row twice), so restored rows are written back as they
 * came, in their order; only rows of the store's own tables are re-encoded, and only once their value moved.
 */
export interface IndexRecordRow {
  readonly key: string;
  readonly value: number;
  readonly extra?: Extra;
  readonly raw: RawRecord;
}

/** The index-table rows the store itself maintains; they answer reads (kvTableMax, the catalog's indexes). */
export const OWN_TABLES: readonly string[] = [
  "kvs",
  "tombstones",
  "sessions",
  "nodes",
  "services",
  "checks",
  "service_last_extinction",
  "acl-tokens",
  "acl-policies",
  "acl-token-bootstrap",
];

/** Own rows: OWN_TABLES and the per-service "service.<name>" rows (Consul CE's names before peering). */
export function isOwnTable(key: string): boolean {
  return OWN_TABLES.includes(key) || key.startsWith("service.");
}

/**
 * Records of types the store does not serve, in their original order, split around the records it writes
 * itself so that an unchanged store writes a Consul archive back byte for byte:
 * first, Register, pre, Session, head, KVS, Tombstone, middle, Index, tail.
 */
export interface OpaqueRecords {
  readonly first: readonly RawRecord[];
  readonly pre: readonly RawRecord[];
  readonly head: readonly RawRecord[];
  readonly middle: readonly RawRecord[];
  readonly tail: readonly RawRecord[];
}

export const NO_OPAQUE: OpaqueRecords = { first: [], pre: [], head: [], middle: [], tail: [] };

/** The tables a read needs: the live store's, or a snapshot's frozen copies. */
export interface KvTables {
  readonly kv: OrderedMap<KvEntry>;
  readonly tombstones: OrderedMap<Tombstone>;
  /** The store's own index-table rows (OWN_TABLES). */
  readonly index: ReadonlyMap<string, IndexRow>;
}

export const TABLE_KVS = "kvs";
export const TABLE_TOMBSTONES = "tombstones";
export const TABLE_SESSIONS = "sessions";

export interface GetResult {
  readonly index: number;
  readonly entry: KvEntry | null;
}

export interface ListResult {
  readonly index: number;
  /** In key order (Go's byte order). */
  readonly entries: KvEntry[];
}

export interface KeysResult {
  readonly index: number;
  /** In key order, folded at the separator and de-duplicated. */
  readonly keys: string[];
}

/** max(index["kvs"], index["tombstones"]): what a miss reports, as Consul's kvsMaxIndex. */
export function kvTableMax(t: KvTables): number {
  return Math.max(t.index.get(TABLE_KVS)?.value ?? 0, t.index.get(TABLE_TOMBSTONES)?.value ?? 0);
}

function atLeastOne(index: number): number {
  return index === 0 ? 1 : index;
}

export function getEntry(t: KvTables, key: string): GetResult {
  const entry = t.kv.get(key) ?? null;
  return { index: entry !== null ? entry.ModifyIndex : atLeastOne(kvTableMax(t)), entry };
}

/** The index of a list or keys read whose live entries under `prefix` peaked at `liveMax`. */
function prefixIndex(t: KvTables, prefix: string, liveMax: number): number {
  let sub = liveMax;
  if (prefix === "") {
    sub = kvTableMax(t);
  } else {
    for (const [, stone] of t.tombstones.prefix(prefix)) sub = Math.max(sub, stone.index);
  }
  return atLeastOne(sub !== 0 ? sub : kvTableMax(t));
}

export function listEntries(t: KvTables, prefix: string): ListResult {
  const entries: KvEntry[] = [];
  let max = 0;
  for (const [, e] of t.kv.prefix(prefix)) {
    entries.push(e);
    max = Math.max(max, e.ModifyIndex);
  }
  return { index: prefixIndex(t, prefix, max), entries };
}

/**
 * The keys under `prefix`. With a separator, each key is cut just after the first separator that follows
 * the prefix, and runs of equal cut keys collapse to one (they are adjacent in key order), as Consul's
 * kvsKeysTxn does: prefix "web/", separator "/" gives "web/bar", "web/subdir/".
 */
export function listKeys(t: KvTables, prefix: string, separator = ""): KeysResult {
  const keys: string[] = [];
  let max = 0;
  let prev: string | null = null;
  for (const [key, e] of t.kv.prefix(prefix)) {
    max = Math.max(max, e.ModifyIndex);
    if (separator === "") {
      keys.push(key);
      continue;
    }
    const at = key.indexOf(separator, prefix.length);
    if (at === -1) {
      keys.push(key);
      prev = null;
      continue;
    }
    const folded = key.slice(0, at + separator.length);
    if (folded === prev) continue;
    prev = folded;
    keys.push(folded);
  }
  return { index: prefixIndex(t, prefix, max), keys };
}

/** Consul's DirEntry.Equal: the fields a write can change, indexes aside (a write equal to this is a no-op). */
export function sameContent(a: KvEntry, b: KvEntry): boolean {
  return (
    a.Key === b.Key &&
    a.Flags === b.Flags &&
    a.LockIndex === b.LockIndex &&
    a.Session === b.Session &&
    sameBytes(a.Value, b.Value)
  );
}

/** Go's bytes.Equal: nil equals empty. */
function sameBytes(a: KvValue, b: KvValue): boolean {
  const x = a ?? EMPTY;
  const y = b ?? EMPTY;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
const EMPTY = new Uint8Array(0);

/** The DirEntry record a KV entry is written as. */
export function entryRecord(e: KvEntry): DirEntry {
  return {
    CreateIndex: e.CreateIndex,
    Flags: e.Flags,
    Key: e.Key,
    LockIndex: e.LockIndex,
    ModifyIndex: e.ModifyIndex,
    Session: e.Session,
    Value: e.Value,
    ...e.carry,
  };
}
