/**
 * `consul snapshot inspect`: meta fields, then bytes and counts per record type, and with kvDetails the KV
 * space per key prefix (snapshot-format.md §3). Output matches Consul's goldens byte for byte.
 *
 * Sizes: each record's size is the bytes consumed since the previous record, so the first record also counts
 * the header, and the type byte is part of every record; TotalSize is then state.bin's length.
 */
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type ByteSource, type ReadArchiveOptions, readArchive } from "./archive-read.js";
import { SnapshotError, SnapshotMetaError, StateBinError } from "./errors.js";
import { isMap } from "./fields.js";
import { decodeGo } from "./gomsgpack.js";
import { MessageType, messageTypeName } from "./message-types.js";
import { decodeMetaJson, type SnapshotMeta } from "./meta.js";
import { readStateBin, type StateBinReadOptions } from "./state-bin.js";
import { tabwrite } from "./tabwriter.js";

export type InspectFormat = "pretty" | "json";

export interface InspectOptions {
  /** -kvdetails: add the KV table. */
  readonly kvDetails?: boolean;
  /** -kvdepth: key segments per prefix (default 2); only with kvDetails. */
  readonly kvDepth?: number;
  /** -kvfilter: only keys starting with this; only with kvDetails. */
  readonly kvFilter?: string;
  /** -format (default pretty). */
  readonly format?: string;
}

export interface TypeStats {
  readonly Name: string;
  readonly Sum: number;
  readonly Count: number;
}

/** Consul's OutputFormat: what both formatters print. */
export interface InspectInfo {
  readonly Meta: {
    readonly ID: string;
    readonly Size: number;
    readonly Index: number;
    readonly Term: number;
    readonly Version: number;
  };
  readonly Stats: readonly TypeStats[];
  /** null when no KV rows (kvDetails off, or no key matched). */
  readonly StatsKV: readonly TypeStats[] | null;
  readonly TotalSize: number;
  readonly TotalSizeKV: number;
}

export const INSPECT_KV_DEPTH_DEFAULT = 2;

class Tally {
  private readonly rows = new Map<string, { Sum: number; Count: number }>();
  total = 0;
  add(name: string, size: number): void {
    const row = this.rows.get(name) ?? { Sum: 0, Count: 0 };
    row.Sum += size;
    row.Count += 1;
    this.rows.set(name, row);
    this.total += size;
  }
  /** Sum descending, then name ascending (byte order, as Go compares strings). */
  sorted(): TypeStats[] {
    const out = [...this.rows].map(([Name, r]) => ({ Name, Sum: r.Sum, Count: r.Count }));
    return out.sort((a, b) => b.Sum - a.Sum || compareGoStrings(a.Name, b.Name));
  }
  get size(): number {
    return this.rows.size;
  }
}

function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const lossyUtf8 = new TextDecoder();

/** The KV key of a KVS record, as inspect's untyped decode sees it; undefined if it has none. */
function kvKey(body: Uint8Array): string | undefined {
  const v = decodeGo(body);
  if (!isMap(v)) return undefined;
  const key = v.Key;
  return key instanceof Uint8Array ? lossyUtf8.decode(key) : undefined;
}

function kvPrefix(key: string, depth: number): string {
  const parts = key.split("/");
  return parts.slice(0, Math.min(depth, parts.length)).join("/");
}

/** Reads state.bin and tallies bytes per type (and per KV prefix when asked). */
export async function collectStats(
  stateBin: AsyncIterable<Uint8Array>,
  options: InspectOptions & StateBinReadOptions = {},
): Promise<{ stats: Tally; kv: Tally }> {
  const depth = options.kvDepth ?? INSPECT_KV_DEPTH_DEFAULT;
  if (!Number.isSafeInteger(depth) || depth < 0) {
    throw new SnapshotError(
      "snapshot_usage",
      `inspect: kvdepth must be a non-negative integer, got "${depth}"`,
    );
  }
  const stats = new Tally();
  const kv = new Tally();
  let headerBytes = 0;
  for await (const item of readStateBin(stateBin, options)) {
    if (item.kind === "header") {
      headerBytes = item.size;
      continue;
    }
    const name = messageTypeName(item.record.type);
    const size = item.size + headerBytes;
    headerBytes = 0;
    let key: string | undefined;
    try {
      decodeGo(item.record.body);
      if (options.kvDetails === true && item.record.type === MessageType.KVS) key = kvKey(item.record.body);
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      throw new StateBinError(err.code, `failed to decode msg type ${name}, error ${err.message}`, {
        cause: err,
      });
    }
    stats.add(name, size);
    if (key === undefined) continue;
    const filter = options.kvFilter ?? "";
    if (filter.length > 0 && !key.startsWith(filter)) continue;
    kv.add(kvPrefix(key, depth), size);
  }
  return { stats, kv };
}

/**
 * Consul's ByteSize: 1024-based units, one decimal with ".0" trimmed, "0" for zero. Go's FormatFloat rounds
 * the exact binary value half to even (1280 bytes is "1.2KB"); toFixed would round half up, so the tenths are
 * computed exactly here instead.
 */
export function byteSize(bytes: number): string {
  if (bytes === 0) return "0";
  const units: [number, string][] = [
    [4, "TB"],
    [3, "GB"],
    [2, "MB"],
    [1, "KB"],
    [0, "B"],
  ];
  const [power, unit] = units.find(([p]) => bytes >= 1024 ** p) as [number, string];
  const scale = 1024n ** BigInt(power);
  const scaled = BigInt(bytes) * 10n;
  let tenths = scaled / scale;
  const twiceRem = (scaled % scale) * 2n;
  if (twiceRem > scale || (twiceRem === scale && tenths % 2n === 1n)) tenths += 1n;
  const text = `${tenths / 10n}.${tenths % 10n}`;
  return `${text.replace(/\.0$/, "")}${unit}`;
}

function prettyTable(title: string, rows: readonly TypeStats[], total: number): string {
  let t = `\n ${title}\tCount\tSize\n ----\t----\t----`;
  for (const s of rows) t += `\n ${s.Name}\t${s.Count}\t${byteSize(s.Sum)}`;
  t += `\n ----\t----\t----\n Total\t\t${byteSize(total)}`;
  return t;
}

function formatPretty(info: InspectInfo): string {
  const m = info.Meta;
  let text = ` ID\t${m.ID}\n Size\t${m.Size}\n Index\t${m.Index}\n Term\t${m.Term}\n Version\t${m.Version}\n`;
  text += prettyTable("Type", info.Stats, info.TotalSize);
  if (info.StatsKV !== null) text += `\n${prettyTable("Key Name", info.StatsKV, info.TotalSizeKV)}`;
  return tabwrite(text, { minWidth: 8, padding: 6 });
}

/** Go's json.MarshalIndent(v, "", "   ") for this shape (HTML-safe string escaping included). */
function formatJson(info: InspectInfo): string {
  const json = JSON.stringify(info, null, 3);
  return json.replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
}

/** Formats as Consul's formatter does: no trailing newline (the CLI adds one). */
export function formatInspect(info: InspectInfo, format: string = "pretty"): string {
  checkFormat(format);
  return format === "pretty" ? formatPretty(info) : formatJson(info);
}

function toInfo(meta: SnapshotMeta, stats: Tally, kv: Tally): InspectInfo {
  return {
    Meta: { ID: meta.ID, Size: meta.Size, Index: meta.Index, Term: meta.Term, Version: meta.Version },
    Stats: stats.sorted(),
    StatsKV: kv.size > 0 ? kv.sorted() : null,
    TotalSize: stats.total,
    TotalSizeKV: kv.total,
  };
}

/** Inspects an archive stream (fully verified first, as Consul does). */
export async function inspectArchiveInfo(
  source: ByteSource,
  options: InspectOptions & ReadArchiveOptions = {},
): Promise<InspectInfo> {
  const archive = await readArchive(source, options);
  try {
    const { stats, kv } = await collectStats(createReadStream(archive.stateBin.path), options);
    return toInfo(archive.meta, stats, kv);
  } finally {
    await archive.stateBin.remove();
  }
}

/** Inspects a raw state.bin with its meta.json bytes (a raft data-dir snapshot). */
export async function inspectStateBinInfo(
  stateBin: AsyncIterable<Uint8Array>,
  metaJson: Uint8Array,
  options: InspectOptions = {},
): Promise<InspectInfo> {
  const meta = decodeMetaJson(metaJson);
  const { stats, kv } = await collectStats(stateBin, options);
  return toInfo(meta, stats, kv);
}

/**
 * `consul snapshot inspect [options] FILE` as text, trailing newline included as the CLI prints it. A file
 * named state.bin (any case) is read raw with the meta.json beside it; anything else as an archive.
 */
export async function inspectFile(
  path: string,
  options: InspectOptions & ReadArchiveOptions = {},
): Promise<string> {
  const format = options.format ?? "pretty";
  checkFormat(format);
  let info: InspectInfo;
  if (basename(path).toLowerCase() === "state.bin") {
    let metaJson: Uint8Array;
    try {
      metaJson = await readFile(join(dirname(path), "meta.json"));
    } catch (err) {
      throw new SnapshotMetaError(
        "snapshot_meta",
        `read meta.json from internal snapshot dir: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    info = await inspectStateBinInfo(createReadStream(path), metaJson, options);
  } else {
    info = await inspectArchiveInfo(createReadStream(path), options);
  }
  return `${formatInspect(info, format)}\n`;
}

/** Refuses an unknown -format before any work, with Consul's message. */
export function checkFormat(format: string): asserts format is InspectFormat {
  if (format !== "pretty" && format !== "json")
    throw new SnapshotError("snapshot_usage", `Unknown format: ${format}`);
}
