/**
 * Restore drills: proof that a backup restores, not only that it verifies. A drill takes the newest backup of
 * ours from the first store that has one, decrypts it when it is `.snap.enc`, verifies it and reads what it
 * holds (meta Index, KV entries, sessions, catalog nodes and services), restores it into a throwaway
 * single-server datacenter (drill-server.ts), and checks that the server then holds the same: as many KV keys,
 * sessions, nodes and services, and writes landing above the archive's index (as after a restore in Consul, so
 * that blocking clients never see the index go backwards). The server, the downloaded file and the temp dir
 * are gone at the end whatever happened.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { ConsulClient } from "../client/index.js";
import { decodeRecord, decryptStream, MessageType, readArchive, readStateBin } from "../snapshot/index.js";
import { AssertionError } from "../util/assert.js";
import { errorText } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { type CairnCommand, cairnCommand, DrillServer } from "./drill-server.js";
import { parseObjectName } from "./naming.js";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";
import { verifiedBody } from "./store-checks.js";

export interface DrillOptions {
  /** Searched in order: the newest backup of the first store that has any is drilled. */
  readonly stores: readonly BackupStore[];
  /** The key of `.snap.enc` backups, or null. */
  readonly encryptionKey: Uint8Array | null;
  /** Where the temp dir (download, state.bin, the server's data dir) is made. */
  readonly scratchDir: string;
  readonly log: Logger;
  /** How to run the throwaway server [this installation's `node …/src/main.js`]. */
  readonly cairn?: CairnCommand;
  /** Bound on the throwaway server's start [60 s]. */
  readonly readyTimeoutMs?: number;
  /** Ends the drill early (the agent stopping or losing its lock); the drill then fails with "aborted". */
  readonly signal?: AbortSignal;
}

export interface DrillReport {
  readonly ok: boolean;
  /** The backup drilled, "" when none was found. */
  readonly name: string;
  /** The store it came from, "" when none. */
  readonly store: string;
  /** The archive's meta Index (0 when it was not read). */
  readonly index: number;
  /** What the archive holds (0 when it was not read). */
  readonly keys: number;
  readonly sessions: number;
  readonly nodes: number;
  readonly services: number;
  readonly seconds: number;
  /** Why the drill failed. */
  readonly error?: string;
}

const READY_TIMEOUT_MS_DEFAULT = 60_000;
/** Written after the counts are taken, to see where the restored server's index goes on. */
const PROBE_KEY = "cairn-snapshot-drill/probe";

class DrillError extends Error {
  override name = "DrillError";
}

/** The backup a drill takes. */
interface Found {
  readonly store: BackupStore;
  readonly name: string;
  readonly encrypted: boolean;
  /** Size and SHA-256 recorded when it was written, when the store kept them. */
  readonly meta: BackupMeta | undefined;
}

/** What an archive holds, as the drill compares it. */
interface ArchiveContents {
  readonly index: number;
  readonly keys: number;
  readonly sessions: number;
  readonly nodes: number;
  readonly services: number;
  readonly nodeNames: ReadonlySet<string>;
}

/** Runs one drill; never rejects: a failure is a report with `ok: false` and the reason. */
export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const t0 = Date.now();
  let found: Found | null = null;
  let held: ArchiveContents | null = null;
  let dir: string | null = null;
  let server: DrillServer | null = null;
  const onAbort = (): void => server?.kill();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const report = (error?: string): DrillReport => ({
    ok: error === undefined,
    name: found?.name ?? "",
    store: found?.store.label ?? "",
    index: held?.index ?? 0,
    keys: held?.keys ?? 0,
    sessions: held?.sessions ?? 0,
    nodes: held?.nodes ?? 0,
    services: held?.services ?? 0,
    seconds: (Date.now() - t0) / 1000,
    ...(error === undefined ? {} : { error }),
  });
  try {
    aborted(o.signal);
    const backup = await newestBackup(o);
    found = backup;
    await mkdir(o.scratchDir, { recursive: true, mode: 0o700 });
    const tmp = await mkdtemp(join(o.scratchDir, "cairn-drill-"));
    dir = tmp;
    const file = join(tmp, "backup.snap");
    await step(`downloading ${backup.name} from ${backup.store.label}`, () => download(o, backup, file));
    const contents = await step(`verifying ${backup.name}`, () => readContents(file, tmp));
    held = contents;
    aborted(o.signal);
    const node = drillNodeName(contents.nodeNames);
    const s = await step("starting the drill server", () =>
      DrillServer.start({
        cairn: o.cairn ?? cairnCommand(),
        node,
        dataDir: join(tmp, "data"),
        readyTimeoutMs: o.readyTimeoutMs ?? READY_TIMEOUT_MS_DEFAULT,
        ...(o.signal === undefined ? {} : { signal: o.signal }),
      }),
    );
    server = s;
    aborted(o.signal); // an abort between the start and here found no server to kill
    await step("restoring into the drill server", () => s.client.snapshotRestore(createReadStream(file)));
    await step("checking the restored server", () => checkRestored(s.client, contents, node));
    return report();
  } catch (e) {
    return report(o.signal?.aborted === true ? "aborted" : errorText(e));
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
    await server?.stop();
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `f`, prefixing its failure with what was being done. */
async function step<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DrillError) throw e;
    throw new DrillError(`${what}: ${errorText(e)}`, { cause: e });
  }
}

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new DrillError("aborted");
}

/** The newest object named as ours in the first store that holds one; a store that cannot list is skipped. */
async function newestBackup(o: DrillOptions): Promise<Found> {
  const failures: string[] = [];
  for (const store of o.stores) {
    let objects: StoredObject[];
    try {
      objects = await store.list("consul-");
    } catch (e) {
      failures.push(`${store.label}: ${errorText(e)}`);
      o.log.warn(`restore drill: listing ${store.label} failed, trying the next store: ${errorText(e)}`);
      continue;
    }
    let best: { obj: StoredObject; id: bigint; encrypted: boolean } | null = null;
    for (const obj of objects) {
      const p = parseObjectName(obj.name);
      if (p !== null && (best === null || p.id > best.id)) best = { obj, id: p.id, encrypted: p.encrypted };
    }
    if (best !== null) {
      return { store, name: best.obj.name, encrypted: best.encrypted, meta: best.obj.meta };
    }
  }
  const where = o.stores.map((s) => s.label).join(", ") || "no store";
  const why = failures.length === 0 ? "" : ` (listing failed: ${failures.join("; ")})`;
  throw new DrillError(`no backup to drill in ${where}${why}`);
}

/**
 * Streams the object into `file` (0600, never an existing file), decrypted when it is sealed, failing unless its
 * bytes are the size and SHA-256 recorded when it was written (when the store kept them): a backup that changed
 * in the store since is named as such, before any archive check.
 */
async function download(o: DrillOptions, found: Found, file: string): Promise<void> {
  if (found.encrypted && o.encryptionKey === null) {
    throw new DrillError(`${found.name} is encrypted and no encryption_key_file is configured`);
  }
  const stored = await found.store.get(found.name);
  const body = found.meta === undefined ? stored : verifiedBody(stored, found.name, found.meta);
  const out = createWriteStream(file, { flags: "wx", mode: 0o600 });
  const signal = o.signal === undefined ? {} : { signal: o.signal };
  if (found.encrypted && o.encryptionKey !== null) {
    await pipeline(body, decryptStream(o.encryptionKey), out, signal);
  } else {
    await pipeline(body, out, signal);
  }
}

/** Verifies the archive (every check `snapshot save` makes) and counts what it holds. */
async function readContents(file: string, tmpDir: string): Promise<ArchiveContents> {
  const archive = await readArchive(createReadStream(file), { tmpDir });
  try {
    const nodes = new Set<string>();
    const services = new Set<string>();
    // Consul writes one Register record per node, one per service and one per check, each naming its node.
    for await (const item of readStateBin(createReadStream(archive.stateBin.path))) {
      if (item.kind !== "record" || item.record.type !== MessageType.Register) continue;
      const rec = decodeRecord(item.record);
      if (rec.kind !== "Register") continue;
      nodes.add(rec.body.Node);
      if (rec.body.Service !== null) services.add(rec.body.Service.Service);
    }
    return {
      index: archive.meta.Index,
      keys: archive.recordCounts.get(MessageType.KVS) ?? 0,
      sessions: archive.recordCounts.get(MessageType.Session) ?? 0,
      nodes: nodes.size,
      services: services.size,
      nodeNames: nodes,
    };
  } finally {
    await archive.stateBin.remove();
  }
}

/** A node name for the drill server that no node of the archive has, so that its own node can be told apart. */
function drillNodeName(taken: ReadonlySet<string>): string {
  // Of these taken.size + 1 names, at least one is free.
  for (let i = 0; i <= taken.size; i++) {
    const name = i === 0 ? "cairn-drill" : `cairn-drill-${i}`;
    if (!taken.has(name)) return name;
  }
  throw new AssertionError("no free node name for the drill server");
}

/**
 * The restored server must hold what the archive holds, and index new writes above the archive's index. Its own
 * node is not counted: the server's anti-entropy puts it back into the restored catalog, as every agent of a
 * restored Consul datacenter does, at a moment of its own.
 */
async function checkRestored(c: ConsulClient, want: ArchiveContents, self: string): Promise<void> {
  const q = { consistent: true };
  const got = {
    keys: (await c.kvKeys("", "", q)).keys.length,
    sessions: (await c.sessionList(q)).sessions.length,
    nodes: (await c.catalogNodes({}, q)).filter((n) => n.node !== self).length,
    services: Object.keys(await c.catalogServices({}, q)).length,
  };
  const differ: string[] = [];
  const what = {
    keys: "KV keys",
    sessions: "sessions",
    nodes: "catalog nodes",
    services: "catalog services",
  };
  for (const k of ["keys", "sessions", "nodes", "services"] as const) {
    if (got[k] !== want[k]) differ.push(`${got[k]} ${what[k]} where the archive has ${want[k]}`);
  }
  if (differ.length > 0) throw new DrillError(`the restored server holds ${differ.join(", ")}`);
  if (!(await c.kvPut(PROBE_KEY, new TextEncoder().encode("drill")))) {
    throw new DrillError("the restored server refused a write");
  }
  const probe = await c.kvGet(PROBE_KEY, q);
  if (probe.meta.lastIndex <= BigInt(want.index)) {
    throw new DrillError(
      `a write after the restore got index ${probe.meta.lastIndex}, not above the archive's index ${want.index}`,
    );
  }
}
