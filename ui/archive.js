/**
 * Reading a snapshot archive in the browser: gzip(tar(meta.json, state.bin, SHA256SUMS)), Consul's format. The
 * browser's DecompressionStream undoes the gzip and a small streaming tar reader picks the entries out, so a
 * restore can show the archive's index and term before anything is sent (reading only as far as meta.json), and a
 * download can be verified whole (both SHA-256 sums) before it is offered. The agent verifies again on restore:
 * this is for the operator's eyes, not a gate.
 */

const BLOCK = 512;
/** meta.json is ~250 bytes plus ~100 per server; anything past this is not a snapshot's. */
const META_MAX = 1 << 20;
const SUMS_MAX = 4096;

function ascii(bytes, from, to) {
  let s = "";
  for (let i = from; i < to && bytes[i] !== 0; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** A header's octal size field (the only form sizes under 8 GiB take; larger ones are not snapshots we read). */
function octal(bytes, from, to) {
  const text = ascii(bytes, from, to).trim();
  if (!/^[0-7]+$/.test(text)) throw new Error(`not a snapshot archive: a tar header has size "${text}"`);
  return Number.parseInt(text, 8);
}

/**
 * Reads the tar inside the gzip stream of `blob` and returns the entries named in `keep` (name → bytes), each
 * at most `limits[name]` bytes (unbounded when absent). Stops reading as soon as every kept entry is in, so
 * finding meta.json at the start of a large archive reads a few KB. An entry with a function in `sinks` is
 * handed to it chunk by chunk instead of kept (state.bin may be far larger than memory wants).
 */
async function readEntries(blob, keep, limits = {}, sinks = {}) {
  const reader = blob.stream().pipeThrough(new DecompressionStream("gzip")).getReader();
  const found = new Map();
  let buf = new Uint8Array(0);
  /** The entry whose data is being read: name, bytes left, parts kept (null when skipped), padding after. */
  let entry = null;
  let ended = false;
  try {
    while (found.size < keep.length && !ended) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        throw new Error(`not a snapshot archive: the gzip stream is broken (${e.message})`);
      }
      if (r.done) break;
      const joined = new Uint8Array(buf.length + r.value.length);
      joined.set(buf);
      joined.set(r.value, buf.length);
      buf = joined;
      let at = 0;
      for (;;) {
        if (entry !== null) {
          const take = Math.min(entry.left, buf.length - at);
          if (entry.sink !== undefined) entry.sink(buf.subarray(at, at + take));
          else if (entry.parts !== null) entry.parts.push(buf.slice(at, at + take));
          entry.left -= take;
          at += take;
          if (entry.left > 0) break;
          if (buf.length - at < entry.pad) break;
          at += entry.pad;
          if (entry.parts !== null) {
            found.set(entry.name, entry.sink === undefined ? concat(entry.parts) : new Uint8Array(0));
          }
          entry = null;
          if (found.size === keep.length) break;
        }
        if (buf.length - at < BLOCK) break;
        const header = buf.subarray(at, at + BLOCK);
        at += BLOCK;
        if (header.every((b) => b === 0)) {
          ended = true;
          break;
        }
        const name = ascii(header, 0, 100);
        const size = octal(header, 124, 136);
        const wanted = keep.includes(name) && (header[156] === 0x30 || header[156] === 0);
        if (wanted && limits[name] !== undefined && size > limits[name]) {
          throw new Error(`not a snapshot archive: ${name} is ${size} bytes`);
        }
        entry = {
          name,
          left: size,
          parts: wanted ? [] : null,
          sink: wanted ? sinks[name] : undefined,
          pad: (BLOCK - (size % BLOCK)) % BLOCK,
        };
      }
      buf = buf.slice(at);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const missing = keep.filter((n) => !found.has(n));
  if (missing.length > 0) throw new Error(`not a snapshot archive: no ${missing.join(", ")} in it`);
  return found;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function parseMeta(bytes) {
  let meta;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`not a snapshot archive: meta.json is not JSON (${e.message})`);
  }
  if (typeof meta?.Index !== "number" || typeof meta?.Term !== "number") {
    throw new Error("not a snapshot archive: meta.json has no Index and Term");
  }
  return meta;
}

/** meta.json of the archive in `blob` (Index, Term, ID, Size, Version…), reading no further than it. */
export async function archiveMeta(blob) {
  const entries = await readEntries(blob, ["meta.json"], { "meta.json": META_MAX });
  return parseMeta(entries.get("meta.json"));
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads the whole archive and checks SHA256SUMS against meta.json and state.bin; returns meta.json, or throws
 * saying what is wrong. Needs crypto.subtle, which a browser offers only in a secure context (https, or an
 * agent on loopback): elsewhere the result says it could not check.
 */
export async function verifyArchive(blob) {
  const entries = await readEntries(blob, ["meta.json", "state.bin", "SHA256SUMS"], {
    "meta.json": META_MAX,
    SHA256SUMS: SUMS_MAX,
  });
  const meta = parseMeta(entries.get("meta.json"));
  if (globalThis.crypto?.subtle === undefined) return { meta, verified: false };
  // As Consul's reader: every line names a file of the archive, and both files are listed.
  const sums = new Map();
  for (const line of new TextDecoder().decode(entries.get("SHA256SUMS")).split("\n")) {
    if (line === "") continue;
    const m = /^([0-9a-f]{64}) {1,2}(\S+)$/.exec(line);
    if (m === null) throw new Error(`not a verified archive: SHA256SUMS has a bad line "${line}"`);
    if (!entries.has(m[2]) || m[2] === "SHA256SUMS") {
      throw new Error(`not a verified archive: SHA256SUMS lists ${m[2]}, which the archive does not hold`);
    }
    sums.set(m[2], m[1]);
  }
  for (const name of ["meta.json", "state.bin"]) {
    const want = sums.get(name);
    if (want === undefined) throw new Error(`not a verified archive: SHA256SUMS lists no ${name}`);
    if ((await sha256Hex(entries.get(name))) !== want) {
      throw new Error(`not a verified archive: ${name} does not match its SHA-256 sum`);
    }
  }
  return { meta, verified: true };
}

/**
 * Consul's MessageType.String() by type byte, as `cairn snapshot inspect` prints them
 * (src/snapshot/message-types.ts; test/ui-archive-counts.test.ts keeps the two equal). "" has no name.
 */
const TYPE_NAMES = [
  "Register",
  "Deregister",
  "KVS",
  "Session",
  "ACL",
  "Tombstone",
  "CoordinateBatchUpdate",
  "PreparedQuery",
  "Txn",
  "Autopilot",
  "Area",
  "ACLBootstrap",
  "Intention",
  "ConnectCA",
  "ConnectCAProviderState",
  "ConnectCAConfig",
  "Index",
  "ACLToken",
  "ACLTokenDelete",
  "ACLPolicy",
  "ACLPolicyDelete",
  "ConnectCALeaf",
  "ConfigEntry",
  "ACLRole",
  "ACLRoleDelete",
  "ACLBindingRule",
  "ACLBindingRuleDelete",
  "ACLAuthMethod",
  "ACLAuthMethodDelete",
  "ChunkingState",
  "FederationState",
  "SystemMetadata",
  "ServiceVirtualIP",
  "FreeVirtualIP",
  "KindServiceName",
  "Peering",
  "PeeringDelete",
  "",
  "PeeringTrustBundle",
  "PeeringTrustBundleDelete",
  "PeeringSecret",
  "RaftLogVerifierCheckpoint",
  "Resource",
  "UpdateManualVirtualIPRequestType",
  "Census",
];

export function typeName(type) {
  const name = TYPE_NAMES[type];
  return name === undefined || name === "" ? `Unknown(${type})` : name;
}

/** Bytes after the lead byte of msgpack's fixed-size forms (ints, floats, fixext), or -1. */
function fixedPayload(b) {
  if (b === 0xcc || b === 0xd0) return 1;
  if (b === 0xcd || b === 0xd1 || b === 0xd4) return 2;
  if (b === 0xd5) return 3;
  if (b === 0xce || b === 0xd2 || b === 0xca) return 4;
  if (b === 0xd6) return 5;
  if (b === 0xcf || b === 0xd3 || b === 0xcb) return 8;
  if (b === 0xd7) return 9;
  if (b === 0xd8) return 17;
  return -1;
}

function uint(buf, at, width) {
  let n = 0;
  for (let i = 0; i < width; i++) n = n * 256 + buf[at + i];
  return n;
}

/**
 * Where the msgpack value at `pos` ends, or -(the buffer length it needs) when `buf` stops inside it. A record
 * of state.bin is a type byte and one msgpack value with no length before it, so counting records means
 * skipping values; this skipper is written here (about 40 lines, as src/snapshot/gomsgpack.ts's scanValue) rather
 * than shipping a msgpack library to the browser for it. Values are skipped, never decoded.
 */
export function skipValue(buf, pos) {
  let pending = 1;
  while (pending > 0) {
    if (pos >= buf.length) return -(pos + 1);
    const b = buf[pos];
    // [header bytes, payload bytes, child values]; for a length-prefixed form the length is read once the
    // header is in.
    let head = 1;
    let len = 0;
    let children = 0;
    let width = 0;
    let kind = "";
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // positive/negative fixint, nil, false, true
    } else if (b <= 0x8f) children = 2 * (b & 0x0f);
    else if (b <= 0x9f) children = b & 0x0f;
    else if (b <= 0xbf) len = b & 0x1f;
    else if (fixedPayload(b) >= 0) len = fixedPayload(b);
    else if (b === 0xc4 || b === 0xd9) [width, kind] = [1, "bytes"];
    else if (b === 0xc5 || b === 0xda) [width, kind] = [2, "bytes"];
    else if (b === 0xc6 || b === 0xdb) [width, kind] = [4, "bytes"];
    else if (b === 0xc7) [width, kind] = [1, "ext"];
    else if (b === 0xc8) [width, kind] = [2, "ext"];
    else if (b === 0xc9) [width, kind] = [4, "ext"];
    else if (b === 0xdc) [width, kind] = [2, "array"];
    else if (b === 0xdd) [width, kind] = [4, "array"];
    else if (b === 0xde) [width, kind] = [2, "map"];
    else if (b === 0xdf) [width, kind] = [4, "map"];
    else
      throw new Error(
        `not a snapshot archive: state.bin has the byte 0x${b.toString(16)} where a value starts`,
      );
    if (width > 0) {
      if (pos + 1 + width > buf.length) return -(pos + 1 + width);
      const n = uint(buf, pos + 1, width);
      head = 1 + width;
      if (kind === "bytes") len = n;
      else if (kind === "ext") [head, len] = [head + 1, n];
      else if (kind === "array") children = n;
      else children = 2 * n;
    }
    pos += head + len;
    if (pos > buf.length) return -pos;
    pending += children - 1;
  }
  return pos;
}

/**
 * Counts state.bin's records per type as it streams by, as `cairn snapshot inspect` tallies them: a record's
 * size is its type byte and value, the first one also carrying the header's bytes; rows by size, then name.
 */
class RecordCounter {
  constructor() {
    this.parts = [];
    this.total = 0;
    this.need = 1;
    this.headerDone = false;
    this.headerBytes = 0;
    this.rows = new Map();
    this.size = 0;
  }

  push(chunk) {
    this.parts.push(chunk.slice());
    this.total += chunk.length;
    if (this.total < this.need) return;
    let buf = concat(this.parts);
    for (;;) {
      const end = this.headerDone ? (buf.length < 1 ? -1 : skipValue(buf, 1)) : skipValue(buf, 0);
      if (end < 0) {
        this.need = -end;
        break;
      }
      if (!this.headerDone) {
        this.headerDone = true;
        this.headerBytes = end;
      } else {
        const name = typeName(buf[0]);
        const row = this.rows.get(name) ?? { Name: name, Sum: 0, Count: 0 };
        row.Sum += end + this.headerBytes;
        row.Count += 1;
        this.rows.set(name, row);
        this.headerBytes = 0;
      }
      this.size += end;
      buf = buf.subarray(end);
      this.need = 1;
    }
    this.parts = buf.length > 0 ? [buf] : [];
    this.total = buf.length;
  }

  result() {
    if (!this.headerDone || this.total > 0) throw new Error("not a snapshot archive: state.bin is cut short");
    const stats = [...this.rows.values()].sort((a, b) => b.Sum - a.Sum || (a.Name < b.Name ? -1 : 1));
    return { stats, totalSize: this.size };
  }
}

/**
 * meta.json and the records of state.bin per type (Name, Count, Sum in bytes) with state.bin's size: what
 * `cairn snapshot inspect` prints, read in the browser. Streams state.bin, so memory holds one record at a time.
 */
export async function archiveContents(blob) {
  const counter = new RecordCounter();
  const entries = await readEntries(
    blob,
    ["meta.json", "state.bin"],
    { "meta.json": META_MAX },
    { "state.bin": (chunk) => counter.push(chunk) },
  );
  return { meta: parseMeta(entries.get("meta.json")), ...counter.result() };
}
