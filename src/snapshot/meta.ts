/**
 * meta.json (raft.SnapshotMeta as Go's json.Encoder writes it) and SHA256SUMS, per snapshot-format.md §1.3–1.4.
 */
import { utf8Bytes } from "./bytes.js";
import { ArchiveIntegrityError, SnapshotMetaError } from "./errors.js";
import { encodeGo } from "./gomsgpack.js";

/** The only snapshot format version cairn reads and writes. */
export const SNAPSHOT_VERSION = 1;

export const META_JSON = "meta.json";
export const STATE_BIN = "state.bin";
export const SHA256SUMS = "SHA256SUMS";

/** raft.ServerSuffrage: 0 Voter, 1 Nonvoter, 2 Staging (numbers in meta.json). */
export type Suffrage = 0 | 1 | 2;

export interface RaftServer {
  readonly Suffrage: Suffrage;
  readonly ID: string;
  /** "ip:port" of the server's RPC address. */
  readonly Address: string;
}

/** The raft configuration at the snapshot. null Servers is how Go writes a nil slice. */
export interface RaftConfiguration {
  readonly Servers: readonly RaftServer[] | null;
}

/** raft.SnapshotMeta, field order as Go declares (and so writes) it. */
export interface SnapshotMeta {
  readonly Version: number;
  /** "<term>-<index>-<unix ms>". */
  readonly ID: string;
  readonly Index: number;
  readonly Term: number;
  /** Base64 of a msgpack array of voter addresses (legacy), or null. */
  readonly Peers: string | null;
  readonly Configuration: RaftConfiguration;
  readonly ConfigurationIndex: number;
  /** Bytes of state.bin. */
  readonly Size: number;
}

/** Go's encoding/json string escaping: HTML-safe (<, >, & as \u003c...), \u2028/\u2029 escaped, short forms. */
/** Characters goJsonString writes as they are: printable ASCII but `"`, `\\`, `<`, `>`, `&`. */
const GO_JSON_PLAIN = /^[\x20-\x7e]*$/;
const GO_JSON_ESCAPED = /["\\<>&]/;

export function goJsonString(s: string): string {
  // Most strings (IDs, addresses) need no escape: written as they are, without the walk below.
  if (GO_JSON_PLAIN.test(s) && !GO_JSON_ESCAPED.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) {
      out += `\\u${c.toString(16).padStart(4, "0")}`;
    } else out += ch;
  }
  return `${out}"`;
}

function uintJson(v: number, field: string): string {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new SnapshotMetaError(
      "snapshot_meta",
      `encode meta.json field ${field}: "${v}" is not an unsigned integer`,
    );
  }
  return String(v);
}

function configurationJson(c: RaftConfiguration): string {
  if (c.Servers === null) return '{"Servers":null}';
  const servers = c.Servers.map(
    (s) => `{"Suffrage":${s.Suffrage},"ID":${goJsonString(s.ID)},"Address":${goJsonString(s.Address)}}`,
  );
  return `{"Servers":[${servers.join(",")}]}`;
}

/** meta.json bytes exactly as Consul writes them: compact JSON in Go's field order, then one newline. */
export function encodeMetaJson(m: SnapshotMeta): Uint8Array {
  const json =
    `{"Version":${uintJson(m.Version, "Version")},"ID":${goJsonString(m.ID)},` +
    `"Index":${uintJson(m.Index, "Index")},"Term":${uintJson(m.Term, "Term")},` +
    `"Peers":${m.Peers === null ? "null" : goJsonString(m.Peers)},` +
    `"Configuration":${configurationJson(m.Configuration)},` +
    `"ConfigurationIndex":${uintJson(m.ConfigurationIndex, "ConfigurationIndex")},` +
    `"Size":${uintJson(m.Size, "Size")}}\n`;
  return utf8Bytes(json);
}

/** Raft's legacy Peers: base64 of a msgpack array of the voters' addresses (nil when there are none). */
export function legacyPeers(c: RaftConfiguration): string {
  const voters = (c.Servers ?? [])
    .filter((s) => s.Suffrage === 0)
    .map((s) => new TextEncoder().encode(s.Address));
  return Buffer.from(encodeGo(voters.length === 0 ? null : voters)).toString("base64");
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function metaFail(message: string): never {
  throw new SnapshotMetaError("snapshot_meta", `failed to decode snapshot metadata: ${message}`);
}

/** Go's json.Unmarshal matches keys case-insensitively; the last matching key wins. */
function field(obj: { [k: string]: Json }, name: string): Json | undefined {
  let found: Json | undefined;
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name.toLowerCase()) found = v;
  return found;
}

function uintField(obj: { [k: string]: Json }, name: string, goType: string): number {
  const v = field(obj, name);
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    metaFail(
      `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field SnapshotMeta.${name} of type ${goType}`,
    );
  }
  return v;
}

function decodeServers(v: Json | undefined): RaftConfiguration {
  if (v === undefined || v === null) return { Servers: null };
  if (typeof v !== "object" || Array.isArray(v)) metaFail("field Configuration is not an object");
  const servers = field(v, "Servers");
  if (servers === undefined || servers === null) return { Servers: null };
  if (!Array.isArray(servers)) metaFail("field Configuration.Servers is not an array");
  return {
    Servers: servers.map((s, i) => {
      if (s === null || typeof s !== "object" || Array.isArray(s))
        metaFail(`Configuration.Servers[${i}] is not an object`);
      const suffrage = uintField(s, "Suffrage", "raft.ServerSuffrage");
      if (suffrage > 2) metaFail(`Configuration.Servers[${i}].Suffrage "${suffrage}" is not 0, 1 or 2`);
      const id = field(s, "ID") ?? "";
      const address = field(s, "Address") ?? "";
      if (typeof id !== "string" || typeof address !== "string") {
        metaFail(`Configuration.Servers[${i}] ID and Address must be strings`);
      }
      return { Suffrage: suffrage as Suffrage, ID: id, Address: address };
    }),
  };
}

function stringField(obj: { [k: string]: Json }, name: string): string | null {
  const v = field(obj, name);
  if (v === undefined || v === null) return null;
  if (typeof v !== "string")
    metaFail(`json: cannot unmarshal ${JSON.stringify(v)} into Go struct field SnapshotMeta.${name}`);
  return v;
}

/** Parses meta.json with Go's leniency (whitespace, key case, unknown keys). Does not check Version. */
export function decodeMetaJson(bytes: Uint8Array): SnapshotMeta {
  let parsed: Json;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as Json;
  } catch (err) {
    return metaFail((err as Error).message);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    metaFail("meta.json is not a JSON object");
  const peers = stringField(parsed, "Peers");
  if (peers !== null && !/^[A-Za-z0-9+/]*={0,2}$/.test(peers))
    metaFail(`field Peers "${peers}" is not base64`);
  return {
    Version: uintField(parsed, "Version", "raft.SnapshotVersion"),
    ID: stringField(parsed, "ID") ?? "",
    Index: uintField(parsed, "Index", "uint64"),
    Term: uintField(parsed, "Term", "uint64"),
    Peers: peers,
    Configuration: decodeServers(field(parsed, "Configuration")),
    ConfigurationIndex: uintField(parsed, "ConfigurationIndex", "uint64"),
    Size: uintField(parsed, "Size", "int64"),
  };
}

/** Refuses any Version but 1 (raft would take 0 too; cairn writes and restores only 1). */
export function checkVersion(meta: SnapshotMeta): void {
  if (meta.Version !== SNAPSHOT_VERSION) {
    throw new SnapshotMetaError(
      "snapshot_version",
      `unsupported snapshot version ${meta.Version}: this reader supports only version ${SNAPSHOT_VERSION}`,
    );
  }
}

/** SHA256SUMS as Consul writes it (meta.json line first): "<hex>␠␠<name>\n" per file. */
export function encodeSha256Sums(metaHex: string, stateHex: string): Uint8Array {
  return utf8Bytes(`${metaHex}  ${META_JSON}\n${stateHex}  ${STATE_BIN}\n`);
}

function integrityFail(message: string, file?: string): never {
  throw new ArchiveIntegrityError(
    "snapshot_integrity",
    `failed to read snapshot file: failed checking integrity of snapshot: ${message}`,
    file,
  );
}

/**
 * Consul's hashList.DecodeAndVerify: each line "<hex> <name>" (any run of spaces) must name meta.json or
 * state.bin and match its digest; then both must have been listed. Lines in any order.
 */
export function verifySha256Sums(sums: Uint8Array, actual: ReadonlyMap<string, string>): void {
  const seen = new Set<string>();
  const text = new TextDecoder().decode(sums);
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop(); // a final newline ends the last line, as bufio.Scanner
  for (const rawLine of lines) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    const m = /^ *([0-9a-fA-F]+) +(\S+)/.exec(line);
    if (m === null) integrityFail(`malformed SHA256SUMS line ${JSON.stringify(line)}: unexpected EOF`);
    const [, hex, name] = m as unknown as [string, string, string];
    if (hex.length % 2 !== 0)
      integrityFail(`malformed SHA256SUMS line ${JSON.stringify(line)}: odd length hex`);
    const digest = actual.get(name);
    if (digest === undefined) integrityFail(`list missing hash for "${name}"`, name);
    if (hex.toLowerCase() !== digest) integrityFail(`hash check failed for "${name}"`, name);
    seen.add(name);
  }
  for (const name of actual.keys()) if (!seen.has(name)) integrityFail(`file missing for "${name}"`, name);
}
