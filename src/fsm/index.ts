/**
 * The replicated state store for Consul KV: commands and their encoding, the deterministic KvStore (apply,
 * reads with Consul's index rules, watches for blocking queries), O(1) snapshots that stream Consul records,
 * and restore from them. The only public entry of src/fsm.
 */

export { compareKeys, OrderedMap, type OrderedMapOptions } from "./btree.js";
export {
  decodeCommand,
  encodeCommand,
  isWellFormed,
  KEY_BYTES_MAX,
  type KvCommand,
  type KvOp,
  type KvValue,
  VALUE_BYTES_MAX,
} from "./command.js";
export {
  CommandDecodeError,
  CommandLimitError,
  InvalidKeyError,
  InvalidSessionError,
  RestoreError,
  WatchLimitError,
} from "./errors.js";
export {
  type ApplyResult,
  KvStore,
  type KvStoreOptions,
  NO_SESSIONS,
  type SessionView,
} from "./kv-store.js";
export type { RestoreItem } from "./restore.js";
export { KvSnapshot } from "./snapshot.js";
export type {
  GetResult,
  IndexRow,
  KeysResult,
  KvEntry,
  KvTables,
  ListResult,
  OpaqueRecords,
  Tombstone,
} from "./state.js";
export { WATCHES_MAX_DEFAULT, type WatchKind, WatchRegistry } from "./watch.js";
