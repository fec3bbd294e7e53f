/**
 * storage/: the data dir. The only public entry of this folder; log-store-contract.ts stays out because it
 * imports node:test.
 */
export { fsyncDir, mkdirDurable, type WriteFileAtomicOptions, writeFileAtomic } from "./atomic-file.js";
export { crc32c } from "./crc32c.js";
export { type DataDir, type DataDirOptions, FORMAT_VERSION, openDataDir } from "./data-dir.js";
export {
  CorruptStateError,
  CorruptWalError,
  DataDirError,
  EntryTooLargeError,
  WalFailedError,
} from "./errors.js";
export { ENTRY_BYTES_MAX_DEFAULT, type LogBoundary, type LogStore } from "./log-store.js";
export { MemoryWal, type MemoryWalOptions } from "./memory-wal.js";
export { FileStableStore, MemoryStableStore, type StableStore } from "./stable-store.js";
export { DiskWal, type DiskWalOptions } from "./wal.js";
