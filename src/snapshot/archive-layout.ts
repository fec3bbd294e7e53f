/**
 * The archive's layout rules, shared by the streamed writer (archive.ts) and the in-memory one
 * (archive-memory.ts) so both make the same bytes: the meta written for a state.bin, the tar entries around
 * state.bin in Consul's order (meta.json, state.bin, SHA256SUMS, end marker), and the gzip header's OS byte.
 */
import * as crypto from "node:crypto";
import { SnapshotMetaError } from "./errors.js";
import {
  checkVersion,
  encodeSha256Sums,
  legacyPeers,
  META_JSON,
  type RaftConfiguration,
  SHA256SUMS,
  SNAPSHOT_VERSION,
  type SnapshotMeta,
  STATE_BIN,
} from "./meta.js";
import { BLOCK_BYTES, tarEnd, tarHeader, tarPadding, tarPaddingBytes } from "./tar.js";

/** What the writer needs to know beyond state.bin; Size is measured, Peers derived unless given. */
export interface ArchiveMetaInput {
  readonly ID: string;
  readonly Index: number;
  readonly Term: number;
  /** Must be 1 when given. */
  readonly Version?: number;
  readonly Configuration?: RaftConfiguration;
  readonly ConfigurationIndex?: number;
  /** Base64 legacy peers; default: derived from Configuration's voters, as raft does. */
  readonly Peers?: string | null;
  /** When given, must equal state.bin's measured length. */
  readonly Size?: number;
}

/** crypto.hash (Node 20.12+), which skips the Hash object createHash makes; createHash before it. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string })
  .hash;

/** The lowercase hex SHA-256 of `bytes` (what SHA256SUMS lists), in one call. */
export function sha256Hex(bytes: Uint8Array): string {
  return oneShotHash !== undefined
    ? oneShotHash("sha256", bytes, "hex")
    : crypto.createHash("sha256").update(bytes).digest("hex");
}

/** The last legacy Peers made, by its voters' addresses: a server's configuration changes rarely. */
let lastPeers: { readonly voters: string; readonly peers: string } | null = null;

/** legacyPeers(c), made again only when the voters' addresses (all it depends on) changed since the last. */
function peersOf(c: RaftConfiguration): string {
  const voters = JSON.stringify((c.Servers ?? []).filter((s) => s.Suffrage === 0).map((s) => s.Address));
  if (lastPeers === null || lastPeers.voters !== voters) lastPeers = { voters, peers: legacyPeers(c) };
  return lastPeers.peers;
}

/** The meta written for a state.bin of `size` bytes. Errors: SnapshotMetaError (Version, Size). */
export function buildMeta(input: ArchiveMetaInput, size: number): SnapshotMeta {
  if (input.Size !== undefined && input.Size !== size) {
    throw new SnapshotMetaError(
      "snapshot_meta",
      `write snapshot: meta Size "${input.Size}" differs from the ${size} bytes of state.bin`,
    );
  }
  const configuration = input.Configuration ?? { Servers: null };
  const meta: SnapshotMeta = {
    Version: input.Version ?? SNAPSHOT_VERSION,
    ID: input.ID,
    Index: input.Index,
    Term: input.Term,
    Peers: input.Peers === undefined ? peersOf(configuration) : input.Peers,
    Configuration: configuration,
    ConfigurationIndex: input.ConfigurationIndex ?? 0,
    Size: size,
  };
  checkVersion(meta);
  return meta;
}

/**
 * The tar's pieces before state.bin's bytes: meta.json's header, meta.json, its padding, state.bin's header.
 * A writer sends them as they are, one chunk each (a stored gzip stream's framing follows the chunks).
 */
export function tarHead(metaJson: Uint8Array, stateBytes: number, mtimeSec: number): Uint8Array[] {
  return [
    tarHeader(META_JSON, metaJson.length, mtimeSec),
    metaJson,
    tarPadding(metaJson.length),
    tarHeader(STATE_BIN, stateBytes, mtimeSec),
  ];
}

/**
 * The tar's pieces after state.bin's bytes, whose SHA-256 (hex) SHA256SUMS lists: state.bin's padding,
 * SHA256SUMS (header, body, padding), then exactly one end marker.
 */
export function tarTail(
  metaJson: Uint8Array,
  stateBytes: number,
  stateSha256: string,
  mtimeSec: number,
): Uint8Array[] {
  const sums = encodeSha256Sums(sha256Hex(metaJson), stateSha256);
  return [
    tarPadding(stateBytes),
    tarHeader(SHA256SUMS, sums.length, mtimeSec),
    sums,
    tarPadding(sums.length),
    tarEnd(),
  ];
}

/** The tar's size: three headers, each entry padded to a block, the end marker. */
export function tarBytes(metaBytes: number, stateBytes: number): number {
  const sumsBytes = 2 * (64 + 2 + 1) + META_JSON.length + STATE_BIN.length;
  const padded = (n: number) => n + tarPaddingBytes(n);
  return 3 * BLOCK_BYTES + padded(metaBytes) + padded(stateBytes) + padded(sumsBytes) + 2 * BLOCK_BYTES;
}

/** Where the gzip header's OS byte is (RFC 1952 §2.3); Go writes 255 ("unknown"), zlib 3 (Unix). */
export const GZIP_OS_BYTE = 9;
