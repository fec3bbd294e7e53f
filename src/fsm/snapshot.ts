/**
 * A point-in-time view of the KV store and its Consul records.
 *
 * Hashicorp's contract: taking the snapshot only captures pointers (O(1): the trees are cloned copy-on-write),
 * and the expensive part, encoding, happens while it streams out. Records come out in a fixed order with
 * KV entries, tombstones and index rows each in key order (Go's byte order), so two replicas with the same
 * state write byte-identical state.bin. Order (Consul's CE writer order for the types served here):
 *   opaque first, Register (0), opaque pre, Session (3), ACLToken (17), ACLPolicy (19), opaque head, KVS (2), Tombstone (5), opaque middle,
 *   Index (16), opaque tail.
 * Lock-delays are not records (Consul has none for them); `lock` carries them beside the records (lock-delay.ts).
 */
import {
  type Extra,
  encodeRecord,
  type RawRecord,
  type SnapshotHeader,
  type StateBinPlan,
  stateBinChunks,
  tombstone,
} from "../snapshot/index.js";
import { fnv1aBytes } from "../util/index.js";
import { type AclTables, type AclView, aclTokenBySecret } from "./acl.js";
import { compareKeys, type OrderedMap } from "./btree.js";
import type { CatalogTrees } from "./catalog.js";
import { catalogRecords } from "./catalog-records.js";
import type { LockDelayState } from "./lock-delay.js";
import {
  nodeSessions,
  type SessionEntry,
  type SessionGetResult,
  type SessionListResult,
  type SessionTables,
  sessionGet,
  sessionList,
} from "./session.js";
import {
  entryRecord,
  type GetResult,
  getEntry,
  type IndexRecordRow,
  type IndexRow,
  isOwnTable,
  type KeysResult,
  type KvEntry,
  type KvTables,
  type ListResult,
  listEntries,
  listKeys,
  type OpaqueRecords,
  TABLE_SESSIONS,
  type Tombstone,
} from "./state.js";

export interface KvSnapshotParts {
  readonly kv: OrderedMap<KvEntry>;
  readonly tombstones: OrderedMap<Tombstone>;
  readonly sessions: OrderedMap<SessionEntry>;
  readonly catalog: CatalogTrees;
  readonly acl: AclTables;
  readonly lock: LockDelayState;
  readonly index: ReadonlyMap<string, IndexRow>;
  readonly indexRows: readonly IndexRecordRow[];
  readonly indexEmit: ReadonlySet<string>;
  readonly opaque: OpaqueRecords;
  /** A restored header's LastIndex: the written one never goes below it. */
  readonly headerFloor: number;
}

/** Invariant: nothing here changes after construction (the trees are clones nobody else writes). */
export class KvSnapshot implements KvTables, SessionTables, AclView {
  readonly kv: OrderedMap<KvEntry>;
  readonly tombstones: OrderedMap<Tombstone>;
  readonly sessions: OrderedMap<SessionEntry>;
  readonly catalog: CatalogTrees;
  readonly acl: AclTables;
  /**
   * The lock-delay deadlines and the FSM's clock at the snapshot (a copy nobody writes). Not written to state.bin:
   * internal snapshots carry it beside (lockDelayJson); a user's archive has none, as Consul's.
   */
  readonly lock: LockDelayState;
  readonly index: ReadonlyMap<string, IndexRow>;
  readonly opaque: OpaqueRecords;
  private readonly indexRows: readonly IndexRecordRow[];
  private readonly indexEmit: ReadonlySet<string>;
  private readonly headerFloor: number;

  constructor(parts: KvSnapshotParts) {
    this.kv = parts.kv;
    this.tombstones = parts.tombstones;
    this.sessions = parts.sessions;
    this.catalog = parts.catalog;
    this.acl = parts.acl;
    this.lock = parts.lock;
    this.index = parts.index;
    this.indexRows = parts.indexRows;
    this.indexEmit = parts.indexEmit;
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

  aclIndex(table: string): number {
    return this.index.get(table)?.value ?? 0;
  }

  aclTokenBySecret(secret: string) {
    return aclTokenBySecret(this, secret);
  }

  get sessionsIndex(): number {
    return this.index.get(TABLE_SESSIONS)?.value ?? 0;
  }

  sessionInfo(id: string): SessionGetResult {
    return sessionGet(this, id);
  }

  sessionList(): SessionListResult {
    return sessionList(this);
  }

  nodeSessions(node: string): SessionListResult {
    return nodeSessions(this, node);
  }

  /** state.bin's header: LastIndex is the highest index in the index table, as Consul's. */
  header(): SnapshotHeader {
    let last = this.headerFloor;
    for (const row of this.indexRows) last = Math.max(last, row.value);
    for (const row of this.index.values()) last = Math.max(last, row.value);
    return { LastIndex: last };
  }

  /** The records, encoded, in the order described above. */
  *records(): Generator<RawRecord> {
    for (const part of this.parts()) {
      if (!isRun(part)) yield part;
      else for (const e of part) yield encodeRecord({ kind: "KVS", type: 2, body: entryRecord(e) });
    }
  }

  /** The records in order, KV entries as runs of entries still to encode (the bulk of a snapshot). */
  private *parts(): Generator<RawRecord | readonly KvEntry[]> {
    yield* this.opaque.first;
    yield* catalogRecords(this.catalog);
    yield* this.opaque.pre;
    for (const [, body] of this.sessions.entries()) yield encodeRecord({ kind: "Session", type: 3, body });
    yield* this.aclRecords();
    yield* this.opaque.head;
    yield* this.kv.valueRuns();
    for (const [key, stone] of this.tombstones.entries()) {
      const body = { ...tombstone(key, stone.index), ...stone.carry };
      yield encodeRecord({ kind: "Tombstone", type: 5, body });
    }
    yield* this.opaque.middle;
    yield* this.indexRecords();
    yield* this.opaque.tail;
  }

  /**
   * ACLToken records in SecretID order, then ACLPolicy records in ID order, as Consul writes them (its memdb
   * "id" indexes); a restored row unchanged since is its original bytes.
   */
  private *aclRecords(): Generator<RawRecord> {
    for (const [, accessor] of this.acl.secrets.entries()) {
      const row = this.acl.tokens.get(accessor);
      if (row === undefined) continue;
      yield row.raw ?? encodeRecord({ kind: "ACLToken", type: 17, body: row.rec });
    }
    for (const [, row] of this.acl.policies.entries())
      yield row.raw ?? encodeRecord({ kind: "ACLPolicy", type: 19, body: row.rec });
  }

  /**
   * The restored Index rows as they came (own rows re-encoded once their value moved), with the own rows
   * the archive lacked merged in at their key-order place; for a store never restored, all in key order.
   */
  private *indexRecords(): Generator<RawRecord> {
    const restored = new Set(this.indexRows.map((r) => r.key));
    const pending = [...this.indexEmit]
      .filter((t) => !restored.has(t) && this.index.has(t))
      .sort(compareKeys);
    const own = (key: string, extra?: Extra): RawRecord => {
      const value = (this.index.get(key) as IndexRow).value;
      const body = extra !== undefined ? { Key: key, Value: value, extra } : { Key: key, Value: value };
      return encodeRecord({ kind: "Index", type: 16, body });
    };
    for (const row of this.indexRows) {
      while (pending.length > 0 && compareKeys(pending[0] as string, row.key) < 0) {
        yield own(pending.shift() as string);
      }
      const current = this.index.get(row.key);
      // An own row the store dropped (a service's row at its extinction) is not written back.
      if (current === undefined && isOwnTable(row.key)) continue;
      yield current !== undefined && current.value !== row.value ? own(row.key, row.extra) : row.raw;
    }
    for (const key of pending) yield own(key);
  }

  /**
   * state.bin as chunks (header, then records), ready for writeArchive or a file: the bytes writeStateBin
   * makes of records(), with each KV entry encoded straight into the chunk (stateBinChunks).
   */
  stateBin(): AsyncGenerator<Uint8Array> {
    return stateBinChunks(this.stateBinPlan());
  }

  /**
   * What a state.bin writer walks, as often as it needs (sized first, then streamed: state-bin-plan.ts):
   * records() with the KV entries left as runs to encode; a KvEntry without carried fields is itself a plain
   * DirEntry, not built as a record object and copied.
   */
  stateBinPlan(): StateBinPlan<KvEntry> {
    return {
      header: this.header(),
      parts: () => this.parts(),
      dirEntry: (e) => (e.carry === undefined ? e : entryRecord(e)),
    };
  }

  /** A cheap fingerprint of the records (FNV-1a over type bytes and bodies), for comparing replicas. */
  digest(): number {
    let h = fnv1aBytes(Uint8Array.of(0));
    h = fnv1aBytes(new TextEncoder().encode(String(this.header().LastIndex)), h);
    for (const r of this.records()) h = fnv1aBytes(r.body, fnv1aBytes(Uint8Array.of(r.type), h));
    return h;
  }
}

function isRun(part: RawRecord | readonly KvEntry[]): part is readonly KvEntry[] {
  return Array.isArray(part);
}
