/**
 * Snapshots under faults: a client that saves archives (`GET /v1/snapshot`, the default mode: a quorum barrier
 * first, so the archive holds every write acknowledged before the save was asked) from random servers while the
 * nemesis runs, and the checks on each archive saved:
 * - it reads and verifies (snapshot/archive-read.ts) and its KV entries are a consistent read of every key at
 *   one instant inside the save's interval: they join the linearizability history as reads (`asReads`);
 * - restored into a scratch single-server datacenter (`checkRestores`), the server serves exactly the archive's
 *   entries (keys, values, flags, create and modify indexes).
 */
import { createReadStream, createWriteStream, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { Operation } from "../sim/linearizability.js";
import { decodeRecord, readArchive, readStateBin } from "../snapshot/index.js";
import type { Rng } from "../util/rng.js";
import { LOCK_PREFIX } from "./locks.js";
import { Datacenter } from "./servers.js";
import { request } from "./workload.js";

export interface Archive {
  readonly file: string;
  readonly call: number;
  readonly ret: number;
  readonly index: number;
  /** The archive's KV entries under the torture's prefix, by key. */
  readonly kv: ReadonlyMap<string, KvSeen>;
}

export interface KvSeen {
  readonly value: string | null;
  readonly flags: string;
  readonly createIndex: number;
  readonly modifyIndex: number;
}

const PREFIX = "torture/";
const SAVE_TIMEOUT_MS = 20_000;

export class Archiver {
  readonly archives: Archive[] = [];
  readonly counts: Record<string, number> = {};
  private stopping = false;

  constructor(
    private readonly dir: string,
    private readonly endpoints: readonly string[],
    private readonly rng: Rng,
    private readonly now: () => number,
  ) {}

  stop(): void {
    this.stopping = true;
  }

  private count(what: string): void {
    this.counts[what] = (this.counts[what] ?? 0) + 1;
  }

  async run(): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const end = Date.now() + this.rng.int(3_000, 9_000);
      while (Date.now() < end && !this.stopping) await new Promise((r) => setTimeout(r, 200));
      if (this.stopping) break;
      await this.saveOne(n);
    }
  }

  private async saveOne(n: number): Promise<void> {
    const endpoint = this.endpoints[this.rng.int(0, this.endpoints.length)]!;
    const file = join(this.dir, `archive-${n}.snap`);
    const call = this.now();
    try {
      const r = await fetch(`${endpoint}/v1/snapshot`, { signal: AbortSignal.timeout(SAVE_TIMEOUT_MS) });
      if (r.status !== 200 || r.body === null) {
        await r.body?.cancel();
        this.count("save failed");
        return;
      }
      await pipeline(Readable.fromWeb(r.body as WebReadableStream<Uint8Array>), createWriteStream(file));
    } catch {
      // The stream broke (a server killed or cut off mid-save): what arrived is no archive; the client knows it.
      rmSync(file, { force: true });
      this.count("save failed");
      return;
    }
    const ret = this.now();
    // A saved archive that does not verify is a failure of the server, not of the network: let it throw.
    const { index, kv } = await decodeArchive(file);
    this.archives.push({ file, call, ret, index, kv });
    this.count("save ok");
  }
}

export async function decodeArchive(file: string): Promise<{ index: number; kv: Map<string, KvSeen> }> {
  const archive = await readArchive(createReadStream(file));
  const kv = new Map<string, KvSeen>();
  try {
    for await (const item of readStateBin(createReadStream(archive.stateBin.path))) {
      if (item.kind !== "record") continue;
      const rec = decodeRecord(item.record);
      if (rec.kind !== "KVS" || !rec.body.Key.startsWith(PREFIX)) continue;
      const e = rec.body;
      kv.set(e.Key, {
        value: e.Value === null ? "" : Buffer.from(e.Value).toString("utf8"),
        flags: String(e.Flags),
        createIndex: e.CreateIndex,
        modifyIndex: e.ModifyIndex,
      });
    }
  } finally {
    await archive.stateBin.remove();
  }
  return { index: archive.meta.Index, kv };
}

/** Each archive as a read of every key the clients touched before the save returned (absent = null). */
export function asReads(archives: readonly Archive[], history: readonly Operation[]): Operation[] {
  const firstCall = new Map<string, number>();
  for (const op of history) {
    const k = op.input.key;
    if (k.startsWith(LOCK_PREFIX)) continue;
    firstCall.set(k, Math.min(firstCall.get(k) ?? Infinity, op.call));
  }
  const out: Operation[] = [];
  archives.forEach((a, i) => {
    for (const [key, first] of firstCall) {
      if (first > a.ret) continue;
      out.push({
        clientId: -2 - i,
        input: { kind: "get", key },
        call: a.call,
        ret: a.ret,
        output: { kind: "value", value: a.kv.get(key)?.value ?? null },
      });
    }
  });
  return out;
}

/**
 * Restores every archive, in turn, into one scratch server in `dir` and compares what it serves under the
 * prefix with the archive. Returns the mismatches (empty: every archive restored exactly).
 */
export async function checkRestores(dir: string, archives: readonly Archive[]): Promise<string[]> {
  if (archives.length === 0) return [];
  const problems: string[] = [];
  mkdirSync(dir, { recursive: true });
  const dc = await Datacenter.start(dir, 1, 100 + Math.floor(Math.random() * 150));
  try {
    const http = dc.servers[0]!.http;
    if (!(await waitWritable(http))) return [`the scratch server in ${dir} never accepted a write`];
    for (const a of archives) {
      const put = await fetch(`${http}/v1/snapshot`, {
        method: "PUT",
        body: Readable.toWeb(createReadStream(a.file)) as ReadableStream<Uint8Array>,
        duplex: "half",
        signal: AbortSignal.timeout(60_000),
      } as RequestInit);
      if (put.status !== 200) {
        problems.push(`${a.file}: restore answered ${put.status} ${await put.text()}`);
        continue;
      }
      await put.text();
      const got = await request(`${http}/v1/kv/${PREFIX}?recurse`, { method: "GET" }, 10_000);
      if (got.kind !== "ok" || (got.status !== 200 && got.status !== 404)) {
        problems.push(`${a.file}: reading back after the restore failed: ${JSON.stringify(got)}`);
        continue;
      }
      const served = new Map<string, KvSeen>();
      if (got.status === 200) {
        for (const e of JSON.parse(got.body) as ServedEntry[]) {
          served.set(e.Key, {
            value: e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8"),
            flags: String(e.Flags),
            createIndex: e.CreateIndex,
            modifyIndex: e.ModifyIndex,
          });
        }
      }
      const diff = compareRestored(a.index, a.kv, served);
      if (diff !== null) problems.push(`${a.file} (index ${a.index}): ${diff}`);
    }
  } finally {
    await dc.stop();
  }
  return problems;
}

interface ServedEntry {
  readonly Key: string;
  readonly Value: string | null;
  readonly Flags: number;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/**
 * What the scratch server serves against the archive (at raft index `index`). Entries keep their archive's
 * indexes and everything after the restore is indexed above `index`, so an entry modified past `index` was
 * written by the server after the restore, legitimately: its leader reconciles the restored catalog, deregisters
 * the torture's other servers, and so invalidates their sessions, releasing their locks (as Consul's does).
 * Every other entry must be exactly the archive's; nothing may be missing or extra.
 */
export function compareRestored(
  index: number,
  want: ReadonlyMap<string, KvSeen>,
  got: ReadonlyMap<string, KvSeen>,
): string | null {
  for (const [k, w] of want) {
    const g = got.get(k);
    if (g === undefined) return `${k} is in the archive but not served after the restore`;
    if (g.modifyIndex > index && g.createIndex === w.createIndex) continue;
    if (JSON.stringify(g) !== JSON.stringify(w))
      return `${k}: archive ${JSON.stringify(w)}, served ${JSON.stringify(g)}`;
  }
  for (const k of got.keys())
    if (!want.has(k)) return `${k} is served after the restore but not in the archive`;
  return null;
}

async function waitWritable(http: string): Promise<boolean> {
  for (let i = 0; i < 120; i++) {
    const r = await request(`${http}/v1/kv/torture-scratch-ready`, { method: "PUT", body: "1" }, 2_000);
    if (r.kind === "ok" && r.status === 200) return true;
    await new Promise((res) => setTimeout(res, 250));
  }
  return false;
}
