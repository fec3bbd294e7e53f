/**
 * Builds a fresh store state from a snapshot's records; the store swaps it in only once all records are in,
 * so a failed restore changes nothing (as Consul, which restores into a new state store).
 *
 * Register (0), KVS (2), Tombstone (5), Session (3), ACLToken (17), ACLPolicy (19) and Index (16) records become
 * tables (ACL rows keep their record's bytes until a write replaces them). Every other record is kept as its raw bytes
 * and written back unchanged, in its original order relative to the others and to the three served groups
 * (see OpaqueRecords). When the archive has no KV records (or no Index rows), the split point of the
 * opaque records is placed where Consul's CE writer puts those groups, so that KV written later lands
 * where Consul would write it, and the unchanged store still writes the archive back byte for byte.
 */
import {
  type DirEntry,
  decodeRecord,
  type Extra,
  encodeRecord,
  MessageType,
  type RawRecord,
  type SnapshotRecord,
  type StateBinItem,
} from "../snapshot/index.js";
import { type AclTables, emptyAclTables, TABLE_ACL_POLICIES, TABLE_ACL_TOKENS } from "./acl.js";
import { OrderedMap } from "./btree.js";
import {
  type CatalogTrees,
  emptyTrees,
  SERVICE_INDEX_PREFIX,
  TABLE_CHECKS,
  TABLE_NODES,
  TABLE_SERVICES,
} from "./catalog.js";
import { restoreRegister } from "./catalog-records.js";
import { RestoreError } from "./errors.js";
import type { SessionEntry } from "./session.js";
import {
  type Carry,
  type IndexRecordRow,
  type IndexRow,
  isOwnTable,
  type KvEntry,
  type OpaqueRecords,
  TABLE_KVS,
  TABLE_SESSIONS,
  TABLE_TOMBSTONES,
  type Tombstone,
} from "./state.js";

/** What restore accepts: readStateBin's items, raw records, or decoded records. */
export type RestoreItem = StateBinItem | RawRecord | SnapshotRecord;

export interface RestoredState {
  readonly kv: OrderedMap<KvEntry>;
  readonly tombstones: OrderedMap<Tombstone>;
  readonly sessions: OrderedMap<SessionEntry>;
  readonly catalog: CatalogTrees;
  readonly acl: AclTables;
  readonly index: Map<string, IndexRow>;
  readonly indexRows: readonly IndexRecordRow[];
  /** Own tables whose rows the next snapshot writes even where the archive had none. */
  readonly indexEmit: Set<string>;
  readonly opaque: OpaqueRecords;
  readonly headerFloor: number;
  /** The highest index in the restored state: where applies resume. */
  readonly lastIndex: number;
}

/** Consul CE's persist order (snapshot-format.md §2.3); Enterprise types (>= 64) come first. */
const CE_ORDER = [
  32, 33, 0, 6, 3, 17, 19, 23, 25, 27, 2, 5, 7, 9, 12, 13, 14, 15, 22, 30, 31, 16, 35, 38, 40, 42, 29,
];

/** A type's place in CE_ORDER, or undefined for a type Consul's CE writer does not write. */
function rank(type: number): number | undefined {
  if (type >= 64 && type < 128) return -1;
  const i = CE_ORDER.indexOf(type);
  return i === -1 ? undefined : i;
}

/** The index of the first record Consul writes after the group of `type`, or the length. */
function splitAfter(records: readonly RawRecord[], type: number): number {
  const own = rank(type) as number;
  const i = records.findIndex((r) => (rank(r.type) ?? -1) > own);
  return i === -1 ? records.length : i;
}

function carryOf(d: DirEntry): Carry | undefined {
  // Nearly every entry: no object to build and throw away.
  if (d.Namespace === undefined && d.Partition === undefined && d.extra === undefined) return undefined;
  const c: { Namespace?: string; Partition?: string; extra?: Extra } = {};
  if (d.Namespace !== undefined) c.Namespace = d.Namespace;
  if (d.Partition !== undefined) c.Partition = d.Partition;
  if (d.extra !== undefined) c.extra = d.extra;
  return Object.keys(c).length > 0 ? c : undefined;
}

export class Restorer {
  /**
   * @param previous the KV table being replaced, if it stays live while this one is built: an entry the archive
   *   holds unchanged is taken from it instead of kept as a second copy, so a restore of a state close to the
   *   current one holds little more than one state at its peak (replaceAsync keeps the old state readable).
   */
  constructor(private readonly previous?: OrderedMap<KvEntry>) {}

  // Consul's writer and ours emit these in key order (memdb and tree iteration), so the loaders build the
  // trees bottom-up; an archive out of order still loads, through inserts.
  private readonly kv = OrderedMap.loader<KvEntry>();
  private readonly tombstones = OrderedMap.loader<Tombstone>();
  private readonly sessions = OrderedMap.loader<SessionEntry>();
  private readonly catalog = emptyTrees();
  private readonly acl = emptyAclTables();
  /** Where the first Register record came among the opaque records before any KV (undefined: none there). */
  private registerSplit: number | undefined;
  /** Where the first Session record came among the opaque records before any KV (undefined: none there). */
  private sessionSplit: number | undefined;
  private readonly index = new Map<string, IndexRow>();
  private readonly indexRows: IndexRecordRow[] = [];
  /** Own-table maxima implied by the KV and tombstone records, for archives without those Index rows. */
  private readonly derived = new Map<string, number>();
  /** Opaque records by phase: 0 before any KV/tombstone, 1 after them, 2 after an Index row. */
  private readonly phases: [RawRecord[], RawRecord[], RawRecord[]] = [[], [], []];
  private phase: 0 | 1 | 2 = 0;
  private sawKv = false;
  private sawIndex = false;
  private headerFloor = 0;

  /** Adds one item; see addBatch. */
  add(item: RestoreItem): void {
    this.addBatch([item]);
  }

  /**
   * Adds items in order. Raw records may be views into a read buffer the caller reuses or drops once this
   * returns (readStateBinBatches with `views`): what the state keeps is copied. KV values are copied into one
   * array per batch rather than one each: a million small ArrayBuffers cost more to allocate and collect than
   * the rest of the restore. A value then shares its batch's array, which is freed once all of them are gone.
   */
  addBatch(items: readonly RestoreItem[]): void {
    // Pass 1: decode the KV records and size the values this batch keeps.
    const entries = this.batchEntries;
    const reused = this.batchReused;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) {
      const rec = rawOf(items[i] as RestoreItem);
      if (rec === null || rec.type !== MessageType.KVS) continue;
      const d = decodeDirEntry(rec);
      const old = this.reusable(d);
      entries[i] = d;
      reused[i] = old;
      if (old === undefined && d.Value !== null) bytes += d.Value.length;
    }
    // Pass 2: every item in its order; the kept values land in `slab`.
    const slab = new Uint8Array(bytes);
    let at = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as RestoreItem;
      const d = entries[i];
      if (d !== undefined) {
        const old = reused[i];
        if (old !== undefined) {
          this.addReused(old);
          continue;
        }
        let value: Uint8Array | null = null;
        if (d.Value !== null) {
          value = slab.subarray(at, at + d.Value.length);
          value.set(d.Value);
          at += d.Value.length;
        }
        this.addEntry(d, value);
        continue;
      }
      if ("kind" in item && item.kind === "header") {
        this.headerFloor = item.header.LastIndex;
        continue;
      }
      const rec = "kind" in item && item.kind === "record" ? item.record : item;
      if ("kind" in rec) this.addDecoded(rec, encodeRecord(rec));
      else if (rec.type === MessageType.Tombstone) {
        this.addTombstone(decodeDirEntry(rec));
      } else if (
        rec.type === MessageType.Register ||
        rec.type === MessageType.Session ||
        rec.type === MessageType.ACLToken ||
        rec.type === MessageType.ACLPolicy ||
        rec.type === MessageType.Index
      ) {
        // Decoders may keep views into the body (bytes fields, extra): decode a copy of its own.
        const owned = own(rec);
        this.addDecoded(decode(owned), owned);
      } else this.phases[this.phase].push(own(rec));
    }
    entries.length = 0;
    reused.length = 0;
  }

  /** The KV records of the batch being added, decoded, by item position (pass 1 to pass 2 of addBatch). */
  private readonly batchEntries: (DirEntry | undefined)[] = [];
  /** The live entries kept for them instead (see reusable), by item position. */
  private readonly batchReused: (KvEntry | undefined)[] = [];

  /**
   * The live entry to keep instead of `d` (see the constructor's `previous`), if `d` has nothing to carry and
   * equals it.
   */
  private reusable(d: DirEntry): KvEntry | undefined {
    if (this.previous === undefined || d.Namespace !== undefined || d.Partition !== undefined)
      return undefined;
    if (d.extra !== undefined) return undefined;
    const old = this.previous.get(d.Key);
    return old !== undefined && sameEntry(old, d) ? old : undefined;
  }

  private addDecoded(rec: SnapshotRecord, raw: RawRecord): void {
    switch (rec.kind) {
      case "Register":
        if (this.phase === 0 && this.registerSplit === undefined) this.registerSplit = this.phases[0].length;
        restoreRegister(this.catalog, rec.body, raw);
        // As Consul's restore: the catalog's table indexes are the header's LastIndex; Index rows override.
        for (const t of [TABLE_NODES, TABLE_SERVICES, TABLE_CHECKS]) this.bumpMax(t, this.headerFloor);
        if (rec.body.Service !== null)
          this.bumpMax(SERVICE_INDEX_PREFIX + rec.body.Service.Service, this.headerFloor);
        break;
      case "KVS": {
        const old = this.reusable(rec.body);
        if (old !== undefined) this.addReused(old);
        else this.addEntry(rec.body, rec.body.Value);
        break;
      }
      case "Session":
        if (this.phase === 0 && this.sessionSplit === undefined) this.sessionSplit = this.phases[0].length;
        this.sessions.add(rec.body.ID, rec.body);
        // As Consul's SessionRestore: the table index follows the sessions; an Index row overrides it.
        this.bumpMax(TABLE_SESSIONS, rec.body.ModifyIndex);
        break;
      case "ACLToken":
      case "ACLPolicy":
        // Consul writes ACL records right after the sessions: one split point serves both groups.
        if (this.phase === 0 && this.sessionSplit === undefined) this.sessionSplit = this.phases[0].length;
        if (rec.kind === "ACLToken") {
          this.acl.tokens.set(rec.body.AccessorID, { rec: rec.body, raw });
          this.acl.secrets.set(rec.body.SecretID, rec.body.AccessorID);
          // As Consul's ACLTokenRestore and ACLPolicyRestore: the table index follows the rows.
          this.bumpMax(TABLE_ACL_TOKENS, rec.body.ModifyIndex);
        } else {
          this.acl.policies.set(rec.body.ID, { rec: rec.body, raw });
          this.acl.names.set(rec.body.Name, rec.body.ID);
          this.bumpMax(TABLE_ACL_POLICIES, rec.body.ModifyIndex);
        }
        break;
      case "Tombstone":
        this.addTombstone(rec.body);
        break;
      case "Index": {
        this.sawIndex = true;
        this.phase = 2;
        const { Key, Value, extra } = rec.body;
        this.indexRows.push(
          extra !== undefined ? { key: Key, value: Value, extra, raw } : { key: Key, value: Value, raw },
        );
        if (isOwnTable(Key)) this.index.set(Key, { value: Value });
        break;
      }
      default:
        this.phases[this.phase].push(raw);
    }
  }

  /** A KV entry of `d`'s fields with `value` (d's own, or its copy) for its value. */
  private addEntry(d: DirEntry, value: Uint8Array | null): void {
    this.enterKv();
    // As Consul's KVSRestore: the table index follows the entries, and an Index row later overrides it.
    this.bumpKv(d.ModifyIndex);
    const entry: KvEntry = {
      Key: d.Key,
      Flags: d.Flags,
      Value: value,
      CreateIndex: d.CreateIndex,
      ModifyIndex: d.ModifyIndex,
      LockIndex: d.LockIndex,
      Session: d.Session,
    };
    this.kv.add(d.Key, withCarry(entry, carryOf(d)));
  }

  /** The live entry itself, rather than an equal copy (see the constructor's `previous`). */
  private addReused(old: KvEntry): void {
    this.enterKv();
    this.bumpKv(old.ModifyIndex);
    // The old entry's key string too: the decoded one is then garbage at once, like the rest of the record.
    this.kv.add(old.Key, old);
  }

  private addTombstone(d: DirEntry): void {
    this.enterKv();
    this.tombstones.add(d.Key, withCarry({ index: d.ModifyIndex }, carryOf(d)));
    this.bumpMax(TABLE_TOMBSTONES, d.ModifyIndex);
  }

  private enterKv(): void {
    this.sawKv = true;
    if (this.phase === 0) this.phase = 1;
  }

  /** bumpMax of the KV table, which a million entries call: the map only when the maximum moves. */
  private bumpKv(value: number): void {
    if (value <= this.kvMax) return;
    this.kvMax = value;
    this.bumpMax(TABLE_KVS, value);
  }

  /** The highest ModifyIndex of the KV entries so far (-1: none yet). */
  private kvMax = -1;

  private bumpMax(table: string, value: number): void {
    this.derived.set(table, Math.max(this.derived.get(table) ?? 0, value));
  }

  finish(): RestoredState {
    let [head, middle, tail] = this.phases;
    // The catalog goes after the records Consul writes before it (virtual IPs, Enterprise records).
    const regCut = this.registerSplit ?? splitAfter(head, MessageType.Register);
    const first = head.slice(0, regCut);
    head = head.slice(regCut);
    // Sessions go between the records Consul writes before them and those after (ACLs, then KV).
    const cut =
      this.sessionSplit !== undefined
        ? Math.max(0, this.sessionSplit - regCut)
        : splitAfter(head, MessageType.Session);
    const pre = head.slice(0, cut);
    head = head.slice(cut);
    if (!this.sawKv) {
      const at = splitAfter(head, MessageType.Tombstone);
      middle = [...head.slice(at), ...middle];
      head = head.slice(0, at);
    }
    if (!this.sawIndex) {
      const at = splitAfter(middle, MessageType.Index);
      tail = [...middle.slice(at), ...tail];
      middle = middle.slice(0, at);
    }
    // As Consul's KVSRestore: the entries imply the table index, and an Index row overrides it. Implied rows
    // are written out only for archives without any Index row (older Consul); otherwise once a write moves them.
    const indexEmit = new Set<string>();
    for (const [table, value] of this.derived) {
      if (this.index.has(table)) continue;
      this.index.set(table, { value });
      if (!this.sawIndex) indexEmit.add(table);
    }
    let lastIndex = this.headerFloor;
    for (const row of this.indexRows) lastIndex = Math.max(lastIndex, row.value);
    for (const row of this.index.values()) lastIndex = Math.max(lastIndex, row.value);
    return {
      kv: this.kv.finish(),
      tombstones: this.tombstones.finish(),
      sessions: this.sessions.finish(),
      catalog: this.catalog,
      acl: this.acl,
      index: this.index,
      indexRows: this.indexRows,
      indexEmit,
      opaque: { first, pre, head, middle, tail },
      headerFloor: this.headerFloor,
      lastIndex,
    };
  }
}

/**
 * Whether a live entry is exactly what a restored record without carried fields holds: every field, the
 * value's bytes, and nil apart from empty (the archive written back must keep which one it had).
 */
function sameEntry(old: KvEntry, d: DirEntry): boolean {
  if (old.carry !== undefined) return false;
  if (old.ModifyIndex !== d.ModifyIndex || old.CreateIndex !== d.CreateIndex) return false;
  if (old.LockIndex !== d.LockIndex || old.Flags !== d.Flags || old.Session !== d.Session) return false;
  const a = old.Value;
  const b = d.Value;
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function withCarry<T extends object>(value: T, carry: Carry | undefined): T & { carry?: Carry } {
  return carry === undefined ? value : { ...value, carry };
}

/** The raw record of an item; null for a header or a decoded record. */
function rawOf(item: RestoreItem): RawRecord | null {
  if ("kind" in item) return item.kind === "record" ? item.record : null;
  return item;
}

/** A record with a body of its own, not a view into a read buffer. */
function own(rec: RawRecord): RawRecord {
  return { type: rec.type, body: new Uint8Array(rec.body) };
}

/** A KVS or Tombstone record's entry; one carrying more than the CE fields is decoded from a copy (see own). */
function decodeDirEntry(rec: RawRecord): DirEntry {
  const d = decode(rec).body as DirEntry;
  return carryOf(d) === undefined ? d : (decode(own(rec)).body as DirEntry);
}

function decode(rec: RawRecord): SnapshotRecord {
  try {
    return decodeRecord(rec);
  } catch (err) {
    throw new RestoreError(`restore a record of type ${rec.type}: ${(err as Error).message}`, { cause: err });
  }
}
