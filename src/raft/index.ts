export { decodeConfChange, encodeConfChange } from "./confchange.js";
export type { Bugs, Config } from "./config.js";
export { RawNode, type Status } from "./node.js";
export { EMPTY_CONF, EMPTY_SNAPSHOT, entryBytes, MemoryStorage, type Storage } from "./storage.js";
export * from "./types.js";
