/**
 * `snapshot decode`: newline-delimited JSON, first `{"Data":<meta.json>,"Type":"SnapshotHeader"}`, then one
 * `{"Data":<record>,"Type":"<name>"}` per record, as Consul 1.19+ prints. Unlike Consul (which decodes some
 * types into request wrappers and so prints zeroed data, snapshot-format.md §3), the data is the record's own.
 *
 * JSON shapes: uint64 values print with all their digits (bigint), typed []byte fields (KV Value) as base64
 * as Go's encoding/json does; in untyped records, where Go's []byte and string share one wire form, a byte
 * string prints as text when it is valid UTF-8 and as base64 otherwise.
 *
 * Secrets: Consul's decode prints every record whole, ACL token SecretIDs included; cairn's prints REDACTED in
 * place of each non-empty secret field (isSecretField) unless asked to show them (consul-compat.md §5.2).
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

/** What a redacted secret prints as: the text Consul's ACL API shows for a SecretID the caller may not read. */
export const REDACTED = "<hidden>";

/**
 * The fields of Consul's records that hold credentials: ACLToken.SecretID and PeeringSecrets' establishment and
 * stream SecretIDs (anything named *Secret*, which also covers auth-method client secrets), the `Token` a
 * prepared query runs with or a request was made with (Register, ConnectCA, …), and private keys
 * (ConnectCAProviderState.PrivateKey, CARoot.SigningKey; not SigningKeyID or PrivateKeyType, which are not).
 */
export function isSecretField(name: string): boolean {
  return (
    name.includes("Secret") || name === "Token" || name.endsWith("PrivateKey") || name.endsWith("SigningKey")
  );
}

function isEmptySecret(v: JsonLike): boolean {
  return v === undefined || v === null || v === "" || (v instanceof Uint8Array && v.length === 0);
}

/** `v` with every non-empty secret field, at any depth, replaced by REDACTED; empty ones stay as they are. */
export function redactSecrets(v: JsonLike): JsonLike {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array || v instanceof Base64) return v;
  if (Array.isArray(v)) return (v as readonly JsonLike[]).map(redactSecrets);
  const redact = ([k, x]: [string, JsonLike]): [string, JsonLike] => [
    k,
    isSecretField(k) && !isEmptySecret(x) ? REDACTED : redactSecrets(x),
  ];
  if (v instanceof Map) return new Map([...(v as ReadonlyMap<string, JsonLike>)].map(redact));
  return Object.fromEntries(Object.entries(v as { readonly [k: string]: JsonLike }).map(redact));
}

/**
 * Records whose whole body is a secret store: PeeringSecrets (type 40). Consul writes it as a protobuf blob,
 * which cairn prints as the bytes it is (text or base64), so its SecretIDs cannot be picked out field by
 * field: the whole Data is redacted instead.
 */
const SECRET_BLOB_TYPES: ReadonlySet<number> = new Set([40]);

/** A record's data as decode prints it by default: secret fields, or a secret blob as a whole, redacted. */
export function redactRecord(type: number, data: JsonLike): JsonLike {
  const blob = typeof data === "string" || data instanceof Uint8Array || data instanceof Base64;
  return SECRET_BLOB_TYPES.has(type) && blob && !isEmptySecret(data) ? REDACTED : redactSecrets(data);
}

export interface DecodeOptions extends StateBinReadOptions {
  /** Print secret fields as they are (`-show-secrets`); by default each prints as REDACTED. */
  readonly showSecrets?: boolean;
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
  options: DecodeOptions = {},
): AsyncGenerator<string> {
  yield `{"Data":${toGoJson(metaData(meta))},"Type":"SnapshotHeader"}`;
  for await (const item of readStateBin(stateBin, options)) {
    if (item.kind === "header") continue;
    const { type } = item.record;
    const data = recordData(item.record);
    const shown = options.showSecrets === true ? data : redactRecord(type, data);
    yield `{"Data":${toGoJson(shown)},"Type":${goJsonString(messageTypeName(type))}}`;
  }
}

/** Verifies an archive, then decodes it into JSON lines; the temp state.bin is removed when iteration ends. */
export async function* decodeArchiveLines(
  source: ByteSource,
  options: ReadArchiveOptions & DecodeOptions = {},
): AsyncGenerator<string> {
  const archive = await readArchive(source, options);
  try {
    yield* decodeStateBinLines(createReadStream(archive.stateBin.path), archive.meta, options);
  } finally {
    await archive.stateBin.remove();
  }
}
