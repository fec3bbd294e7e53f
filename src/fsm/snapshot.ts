/**
 * A point-in-time view of the KV store and its Consul records.
 *
 * Hashicorp's contract: taking the snapshot only captures pointers (O(1): the trees are cloned copy-on-write),
 * and the expensive part, encoding, happens while it streams out. Records come out in a fixed order with
 * KV entries, tombstones and index rows each in key order (Go's byte order), so two replicas with the same
 * state write byte-identical state.bin. Order (Consul's CE writer order for the types served here):
 *   opaque head, KVS (2), Tombstone (5), opaque middle, Index (16), opaque tail.
 */
import {
  encodeRecord,
  type RawRecord,
  type SnapshotHeader,
  tombstone,
  writeStateBin,
} from "../snapshot/index.js";
import { fnv1aBytes } from "../util/index.js";
import { compareKeys, type OrderedMap } from "./btree.js";
import {
  entryRecord,
  type GetResult,
  getEntry,
  type IndexRow,
  type KeysResult,
  type KvEntry,
  type KvTables,
  type ListResult,
  listEntries,
  listKeys,
  type OpaqueRecords,
  type Tombstone,
} from "./state.js";

export interface KvSnapshotParts {
  readonly kv: OrderedMap<KvEntry>;
  readonly tombstones: OrderedMap<Tombstone>;
  readonly index: ReadonlyMap<string, IndexRow>;
  readonly opaque: OpaqueRecords;
  /** A restored header's LastIndex: the written one never goes below it. */
  readonly headerFloor: number;
}

/** Invariant: nothing here changes after construction (the trees are clones nobody else writes). */
export class KvSnapshot implements KvTables {
  readonly kv: OrderedMap<KvEntry>;
  readonly tombstones: OrderedMap<Tombstone>;
  readonly index: ReadonlyMap<string, IndexRow>;
  readonly opaque: OpaqueRecords;
  private readonly headerFloor: number;

  constructor(parts: KvSnapshotParts) {
    this.kv = parts.kv;
    this.tombstones = parts.tombstones;
    this.index = parts.index;
    this.opaque = parts.opaque;
    this.headerFloor = parts.headerFloor;
  }

  get(key: string): GetResult {
    return getEntry(this, key);
  }

  list(prefix: string): ListResult {
    return listEntries(this, prefix);
  }

  keys(prefix: string, separator = ""): KeysResult {
    return listKeys(this, prefix, separator);
  }

  /** state.bin's header: LastIndex is the highest index in the index table, as Consul's. */
  header(): SnapshotHeader {
    let last = this.headerFloor;
    for (const row of this.index.values()) last = Math.max(last, row.value);
    return { LastIndex: last };
  }

  /** The records, encoded, in the order described above. */
  *records(): Generator<RawRecord> {
    yield* this.opaque.head;
    for (const [, e] of this.kv.entries()) yield encodeRecord({ kind: "KVS", type: 2, body: entryRecord(e) });
    for (const [key, stone] of this.tombstones.entries()) {
      const body = { ...tombstone(key, stone.index), ...stone.carry };
      yield encodeRecord({ kind: "Tombstone", type: 5, body });
    }
    yield* this.opaque.middle;
    const names = [...this.index.keys()].sort(compareKeys);
    for (const name of names) {
      const row = this.index.get(name) as IndexRow;
      const body =
        row.extra !== undefined
          ? { Key: name, Value: row.value, extra: row.extra }
          : { Key: name, Value: row.value };
      yield encodeRecord({ kind: "Index", type: 16, body });
    }
    yield* this.opaque.tail;
  }

  /** state.bin as chunks (header, then records), ready for writeArchive or a file. */
  stateBin(): AsyncGenerator<Uint8Array> {
    return writeStateBin(this.header(), this.records());
  }

  /** A cheap fingerprint of the records (FNV-1a over type bytes and bodies), for comparing replicas. */
  digest(): number {
    let h = fnv1aBytes(Uint8Array.of(0));
    h = fnv1aBytes(new TextEncoder().encode(String(this.header().LastIndex)), h);
    for (const r of this.records()) h = fnv1aBytes(r.body, fnv1aBytes(Uint8Array.of(r.type), h));
    return h;
  }
}
