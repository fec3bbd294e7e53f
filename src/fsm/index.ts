/**
 * The replicated state store for Consul KV: commands and their encoding, the deterministic KvStore (apply,
 * reads with Consul's index rules, watches for blocking queries), O(1) snapshots that stream Consul records,
 * and restore from them. The only public entry of src/fsm.
 */

export {
  ACL_BOOTSTRAP_ROW,
  type AclPolicyResult,
  type AclPolicySpec,
  type AclTokenResult,
  type AclTokenSpec,
  ANONYMOUS_TOKEN_ID,
  bootstrapRefusal,
  builtinPolicyRefusal,
  GLOBAL_MANAGEMENT_POLICY_ID,
  TABLE_ACL_POLICIES,
  TABLE_ACL_TOKENS,
} from "./acl.js";
export { compareKeys, OrderedMap, type OrderedMapOptions } from "./btree.js";
export { type CatalogEffects, TABLE_CHECKS, TABLE_NODES, TABLE_SERVICES } from "./catalog.js";
export { CatalogReads, checkJson, type NodeMetaFilter, nodeJson, serviceJson } from "./catalog-reads.js";
export type {
  CatalogDeregisterRequest,
  CatalogRead,
  CatalogRegisterRequest,
  CheckDefinition,
  CheckRow,
  CheckSpec,
  HealthCheckJson,
  HealthState,
  NodeJson,
  NodeRow,
  NodeServicesJson,
  ServiceAddress,
  ServiceEntryJson,
  ServiceJson,
  ServiceNodeJson,
  ServiceRow,
  ServiceSpec,
  StrMap,
  Weights,
} from "./catalog-types.js";
export {
  SERF_ALIVE_OUTPUT,
  SERF_CHECK_ID,
  SERF_CHECK_NAME,
  SERF_FAILED_OUTPUT,
} from "./catalog-types.js";
export { preApplyDeregister, preApplyRegister } from "./catalog-validate.js";
export {
  decodeCommand,
  encodeCommand,
  isWellFormed,
  KEY_BYTES_MAX,
  type KvCommand,
  type KvOp,
  type KvValue,
  passLockDelay,
  stampTime,
  VALUE_BYTES_MAX,
} from "./command.js";
export { DurationSyntaxError, formatGoDuration, parseGoDuration } from "./duration.js";
export {
  AclError,
  type AclErrorCode,
  CatalogError,
  CommandDecodeError,
  CommandLimitError,
  InvalidBehaviorError,
  InvalidKeyError,
  InvalidSessionError,
  RestoreError,
  SessionIdError,
  SessionTtlError,
  TxnFailedError,
  type TxnOpError,
  TxnTooLargeError,
  WatchLimitError,
} from "./errors.js";
export {
  type ApplyResult,
  type CommandResult,
  KvStore,
  type KvStoreOptions,
  NO_SESSIONS,
  type SessionView,
} from "./kv-store.js";
export { type LeaderWrite, type LeaderWriteBugs, leaderWrite } from "./leader-write.js";
export {
  LOCK_DELAY_PASSED,
  type LockDelayJson,
  type LockDelayState,
  lockDelayJson,
  lockDelaysFromJson,
} from "./lock-delay.js";
export { type ReadSpec, reads } from "./reads.js";
export type { RestoreItem } from "./restore.js";
export {
  MAX_LOCK_DELAY_NS,
  normalizeBehavior,
  type SessionEntry,
  type SessionGetResult,
  type SessionListResult,
  type SessionSpec,
  validateSessionTtl,
} from "./session.js";
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
export { TXN_OPS_MAX, TXN_VERBS, type TxnOp, type TxnSuccess, type TxnVerb, txnTooLarge } from "./txn.js";
export { WATCHES_MAX_DEFAULT, type Wake, type Watch, type WatchKind, WatchRegistry } from "./watch.js";
