/**
 * `snapshot decode`: newline-delimited JSON, first `{"Data":<meta.json>,"Type":"SnapshotHeader"}`, then one
 * `{"Data":<record>,"Type":"<name>"}` per record, as Consul 1.19+ prints. Unlike Consul (which decodes some
 * types into request wrappers and so prints zeroed data, snapshot-format.md §3), the data is the record's own.
 *
 * JSON shapes: uint64 values print with all their digits (bigint), typed []byte fields (KV Value) as base64
 * as Go's encoding/json does; in untyped records, where Go's []byte and string share one wire form, a byte
 * string prints as text when it is valid UTF-8 and as base64 otherwise.
 */
import { createReadStream } from "node:fs";
import { type ByteSource, type ReadArchiveOptions, readArchive } from "./archive-read.js";
import { decodeGo } from "./gomsgpack.js";
import { messageTypeName } from "./message-types.js";
import { goJsonString, type SnapshotMeta } from "./meta.js";
import { decodeRecord, type RawRecord } from "./records.js";
import { readStateBin, type StateBinReadOptions } from "./state-bin.js";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Marks a byte slice known to be a Go []byte, printed as base64 whatever its content. */
class Base64 {
  constructor(readonly bytes: Uint8Array) {}
}

type JsonLike =
  | undefined
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Base64
  | readonly JsonLike[]
  | ReadonlyMap<string, JsonLike>
  | { readonly [k: string]: JsonLike };

function bytesJson(b: Uint8Array): string {
  try {
    return goJsonString(strictUtf8.decode(b));
  } catch {
    return `"${Buffer.from(b).toString("base64")}"`;
  }
}

/** Compact JSON as Go's encoder writes it (HTML-safe escaping, exact integers); undefined fields omitted. */
export function toGoJson(v: JsonLike): string {
  if (v === undefined || v === null) return "null";
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "string") return goJsonString(v);
  if (v instanceof Uint8Array) return bytesJson(v);
  if (v instanceof Base64) return `"${Buffer.from(v.bytes).toString("base64")}"`;
  if (Array.isArray(v)) return `[${(v as readonly JsonLike[]).map(toGoJson).join(",")}]`;
  const entries = v instanceof Map ? [...(v as ReadonlyMap<string, JsonLike>)] : Object.entries(v);
  const fields = entries
    .filter(([, item]) => item !== undefined)
    .map(([k, item]) => `${goJsonString(k)}:${toGoJson(item)}`);
  return `{${fields.join(",")}}`;
}

/**
 * Typed values carry unknown Go fields in `extra`; print them in place. ("extra" cannot clash with a Go field:
 * exported Go field names start with a capital letter.)
 */
function flattenExtra(v: JsonLike): JsonLike {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array || v instanceof Base64) return v;
  if (Array.isArray(v)) return (v as readonly JsonLike[]).map(flattenExtra);
  if (v instanceof Map)
    return new Map([...(v as ReadonlyMap<string, JsonLike>)].map(([k, x]) => [k, flattenExtra(x)]));
  const { extra, ...fields } = v as { readonly [k: string]: JsonLike };
  const out: { [k: string]: JsonLike } = {};
  for (const [k, x] of Object.entries(fields)) out[k] = flattenExtra(x);
  if (extra !== undefined) Object.assign(out, extra);
  return out;
}

/** A record's data as JSON-ready values: typed records through their codec, others as decoded. */
export function recordData(raw: RawRecord): JsonLike {
  const rec = decodeRecord(raw);
  switch (rec.kind) {
    case "KVS":
    case "Tombstone":
      return flattenExtra({
        ...rec.body,
        Value: rec.body.Value === null ? null : new Base64(rec.body.Value),
      });
    // ACL records print as decoded (time.Time as its bytes), as before they had a typed codec.
    case "ACLToken":
    case "ACLPolicy":
    case "Opaque":
      return decodeGo(raw.body);
    default:
      return flattenExtra(rec.body as unknown as JsonLike);
  }
}

function metaData(meta: SnapshotMeta): JsonLike {
  return {
    Version: meta.Version,
    ID: meta.ID,
    Index: meta.Index,
    Term: meta.Term,
    Peers: meta.Peers,
    Configuration: {
      Servers: meta.Configuration.Servers === null ? null : meta.Configuration.Servers.map((s) => ({ ...s })),
    },
    ConfigurationIndex: meta.ConfigurationIndex,
    Size: meta.Size,
  };
}

/** Decodes a state.bin into JSON lines (no trailing newlines), after the meta's SnapshotHeader line. */
export async function* decodeStateBinLines(
  stateBin: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  meta: SnapshotMeta,
  options: StateBinReadOptions = {},
): AsyncGenerator<string> {
  yield `{"Data":${toGoJson(metaData(meta))},"Type":"SnapshotHeader"}`;
  for await (const item of readStateBin(stateBin, options)) {
    if (item.kind === "header") continue;
    const name = messageTypeName(item.record.type);
    yield `{"Data":${toGoJson(recordData(item.record))},"Type":${goJsonString(name)}}`;
  }
}

/** Verifies an archive, then decodes it into JSON lines; the temp state.bin is removed when iteration ends. */
export async function* decodeArchiveLines(
  source: ByteSource,
  options: ReadArchiveOptions = {},
): AsyncGenerator<string> {
  const archive = await readArchive(source, options);
  try {
    yield* decodeStateBinLines(createReadStream(archive.stateBin.path), archive.meta, options);
  } finally {
    await archive.stateBin.remove();
  }
}
