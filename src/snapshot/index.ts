/**
 * Consul's snapshot archive codec as pure streams: the Go-msgpack record codec, state.bin, the
 * gzip(tar(meta.json, state.bin, SHA256SUMS)) archive writer and verifying reader, inspect and decode, and the
 * encrypted envelope of backups (.snap.enc).
 * Format facts: docs/snapshot-format.md. The only public entry of src/snapshot.
 */

export {
  type AclLink,
  type AclPolicyRecord,
  type AclTokenRecord,
  GO_ZERO_TIME,
  goTimeFromMs,
  goTimeJson,
  goTimeMs,
} from "./acl-records.js";
export {
  type ArchiveMetaInput,
  IN_MEMORY_BYTES_MAX,
  type StateBinSource,
  type WriteArchiveOptions,
  writeArchive,
} from "./archive.js";
export { type ArchiveBytesOptions, archiveBytes } from "./archive-memory.js";
export {
  type ByteSource,
  checkRecords,
  IN_MEMORY_TAR_BYTES_MAX,
  META_BYTES_MAX_DEFAULT,
  type ReadArchiveOptions,
  readArchive,
  readArchiveBytes,
  readArchiveInto,
  STATE_BIN_BYTES_MAX_DEFAULT,
  type VerifiedArchive,
  type VerifiedSpool,
  type VerifiedStateBin,
  verifyArchive,
} from "./archive-read.js";
export {
  type DecodeOptions,
  decodeArchiveLines,
  decodeStateBinLines,
  REDACTED,
  recordData,
  toGoJson,
} from "./decode.js";
export {
  decryptStream,
  ENVELOPE_CHUNK_SIZE_DEFAULT,
  ENVELOPE_MAGIC,
  type EncryptOptions,
  encryptStream,
  isEncrypted,
} from "./envelope.js";
export { generateKey, type KeyFile, keyId, readKeyFile } from "./envelope-key.js";
export {
  ArchiveFormatError,
  ArchiveIntegrityError,
  EnvelopeError,
  type EnvelopeErrorCode,
  MsgpackDecodeError,
  RecordDecodeError,
  SnapshotError,
  type SnapshotErrorCode,
  SnapshotLimitError,
  SnapshotMetaError,
  StateBinError,
} from "./errors.js";
export { type Extra, isMap } from "./fields.js";
export {
  compareBytes,
  type Decoded,
  type DecodedMap,
  decodeGo,
  encodeGo,
  Float32,
  Float64,
  type GoStruct,
  type GoValue,
  scanValue,
} from "./gomsgpack.js";
export {
  byteSize,
  collectStats,
  formatInspect,
  type InspectFormat,
  type InspectInfo,
  type InspectOptions,
  inspectArchiveInfo,
  inspectFile,
  inspectStateBinInfo,
  type TypeStats,
} from "./inspect.js";
export {
  ENTERPRISE_TYPE_MIN,
  IGNORE_UNKNOWN_TYPE_FLAG,
  isEnterpriseType,
  MESSAGE_TYPES,
  MessageType,
  type MessageTypeInfo,
  messageTypeInfo,
  messageTypeName,
} from "./message-types.js";
export {
  decodeMetaJson,
  encodeMetaJson,
  goJsonString,
  legacyPeers,
  META_JSON,
  type RaftConfiguration,
  type RaftServer,
  SHA256SUMS,
  SNAPSHOT_VERSION,
  type SnapshotMeta,
  STATE_BIN,
  type Suffrage,
} from "./meta.js";
export {
  type AutopilotConfig,
  type DirEntry,
  decodeHeader,
  decodeRecord,
  encodeHeader,
  encodeRecord,
  type IndexEntry,
  type RawRecord,
  type ServiceCheck,
  type Session,
  type SnapshotHeader,
  type SnapshotRecord,
  tombstone,
} from "./records.js";
export type { HealthCheck, NodeService, RegisterRequest } from "./register.js";
export {
  RECORD_BYTES_MAX_DEFAULT,
  readStateBin,
  readStateBinBatches,
  type StateBinItem,
  type StateBinReadOptions,
  StateBinWriter,
  stateBinBytes,
  writeStateBin,
} from "./state-bin.js";
export {
  type SizedStateBin,
  type StateBinPlan,
  sizedStateBin,
  smallStateBin,
  stateBinChunks,
  stateBinRanges,
  stateBinSize,
} from "./state-bin-plan.js";
export { feedVerifier, VerifyingPass } from "./verify-pass.js";
