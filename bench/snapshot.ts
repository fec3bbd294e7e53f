/**
 * `npm run bench -- snapshot [-keys 100000,1000000] [-load-budget-min 20]`: snapshot save, verify and restore
 * of cairn against etcd 3.4 with the same keys (256 B random values), one engine at a time on the same machine.
 * Not a test: it prints figures and whether each target of docs/snapshot-format.md §8.5 is met, never fails
 * on a miss.
 *
 * Per size: cairn (3 servers) is loaded through PUT /v1/kv, then (1) `cairn snapshot save` against the leader,
 * timed and with the leader's RSS sampled; (2) put throughput during a second save vs. a baseline of the same
 * length just before; (3) `cairn snapshot restore` of the first archive, timed until every server serves the
 * archive's sentinel value. Then etcd (3 members) gets the same keys and `etcdctl snapshot save|status|restore`.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { flag, parseFlags } from "../src/util/flags.js";
import { CLIENTS, cairnBulk, KEY_PREFIX, loadKeys, VALUE_BYTES } from "./bulk-load.js";
import { type CairnCluster, startCairnCluster } from "./cairn.js";
import { CLI, guarded, run, running } from "./children.js";
import { type EtcdCluster, kvPutCairn, kvPutEtcd, startEtcdCluster } from "./etcd.js";
import { LoadError, type PutLoadOptions, runPutLoad } from "./load.js";
import { type RssStats, sampleRss } from "./rss.js";

const SENTINEL = "bench/sentinel";
/** etcd's default --max-txn-ops is 128; loading etcd in batches keeps its side of the run short. */
const ETCD_TXN_PUTS = 100;
const CHILD_TIMEOUT_MS = 15 * 60_000;
const RESTORE_WAIT_MS = 15 * 60_000;
const CHUNK_PUTS = 512;
const MB = 1024 * 1024;

/** Index of the server whose agent reports itself Raft leader. */
async function leaderOf(endpoints: readonly string[]): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const [i, e] of endpoints.entries()) {
      const self = (await fetch(`${e}/v1/agent/self`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.json())
        .catch(() => null)) as { Stats?: { raft?: { state?: string } } } | null;
      if (self?.Stats?.raft?.state === "Leader") return i;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no cairn server reports itself leader within 30 s");
}

async function kvPut(endpoint: string, key: string, value: string): Promise<void> {
  const r = await fetch(`${endpoint}/v1/kv/${key}`, { method: "PUT", body: value });
  if (!r.ok) throw new Error(`PUT ${key} answered ${r.status}`);
}

/**
 * Closed-loop puts in chunks of CHUNK_PUTS until `done()` (checked between chunks) or `deadline`. runPutLoad
 * is count-bound, so a load that must last as long as a save runs is a sequence of short ones; the tail of
 * each chunk (clients draining) costs the same in the baseline and in the measured run. A chunk with a failed
 * put (a leader change answers 500) counts none of its puts, and the load goes on: that is part of the figure.
 */
async function putsUntil(
  make: (offset: number, count: number) => PutLoadOptions,
  done: (elapsedMs: number) => boolean,
  deadline: number,
): Promise<{ writes: number; perSec: number; failedChunks: number }> {
  const t0 = performance.now();
  let writes = 0;
  let failedChunks = 0;
  for (let offset = 0; !done(performance.now() - t0) && Date.now() < deadline; offset += CHUNK_PUTS) {
    try {
      await runPutLoad(make(offset, CHUNK_PUTS));
      writes += CHUNK_PUTS;
    } catch (e) {
      if (!(e instanceof LoadError)) throw e;
      failedChunks++;
    }
  }
  return { writes, perSec: (writes / (performance.now() - t0)) * 1000, failedChunks };
}

interface CairnFigures {
  readonly loadMs: number;
  readonly loadPerSec: number;
  readonly loadRetries: number;
  readonly saveMs: number;
  readonly archiveBytes: number;
  readonly saveRss: RssStats;
  readonly streamFirstByteMs: number;
  readonly streamMs: number;
  readonly baselinePutsPerSec: number;
  readonly duringSavePutsPerSec: number;
  readonly duringSaveMs: number;
  /** Chunks of 512 puts of the two loads around a save that had a failed put (not counted as writes). */
  readonly failedChunks: number;
  readonly restoreCliMs: number;
  readonly restoreAppliedMs: readonly number[];
  readonly restoreRss: readonly RssStats[];
  /** The server the archive was uploaded to (it serves the blob to the others). */
  readonly restoreLeader: number;
  /** 1-minute load average when the save and when the restore started (the machine is shared). */
  readonly loadAtSave: number;
  readonly loadAtRestore: number;
}

/** Times GET /v1/snapshot alone (no file, no verify): where the server's share of a save ends. */
async function streamOnly(endpoint: string): Promise<{ firstByteMs: number; totalMs: number }> {
  const t0 = performance.now();
  const res = await fetch(`${endpoint}/v1/snapshot`, { signal: AbortSignal.timeout(CHILD_TIMEOUT_MS) });
  if (!res.ok || res.body === null) throw new Error(`GET /v1/snapshot answered ${res.status}`);
  let firstByteMs = 0;
  for await (const _chunk of res.body) {
    if (firstByteMs === 0) firstByteMs = performance.now() - t0;
  }
  return { firstByteMs, totalMs: performance.now() - t0 };
}

async function cairnSave(c: CairnCluster, leader: number, file: string) {
  const pid = c.pids[leader] ?? 0;
  const addr = `-http-addr=${c.endpoints[leader]}`;
  rmSync(file, { force: true });
  const rss = sampleRss(pid);
  let saveMs: number;
  try {
    saveMs = (await run(process.execPath, [CLI, "snapshot", "save", addr, file])).ms;
  } finally {
    rss.stop();
  }
  return { saveMs, saveRss: rss.stop(), archiveBytes: statSync(file).size };
}

type ChunkedPuts = (tag: string) => (offset: number, count: number) => PutLoadOptions;

/** Puts/s of a baseline load as long as one save (≥ 2 s), then of the same load while `save()` runs. */
async function writesDuringSave(puts: ChunkedPuts, save: () => Promise<unknown>, saveMs: number) {
  const deadline = Date.now() + CHILD_TIMEOUT_MS;
  // At least 2 s, so a fast save still gets several chunks' worth of baseline.
  const baseline = await putsUntil(puts("base"), (ms) => ms >= Math.max(saveMs, 2000), deadline);
  let saving = true;
  const t0 = performance.now();
  const settled = save().finally(() => {
    saving = false;
  });
  settled.catch(() => {}); // awaited below; this only keeps an early failure from being unhandled
  const during = await putsUntil(puts("during"), () => !saving, deadline);
  const duringSaveMs = performance.now() - t0;
  await settled;
  const failedChunks = baseline.failedChunks + during.failedChunks;
  return { baseline: baseline.perSec, during: during.perSec, duringSaveMs, failedChunks };
}

/**
 * Until every server answers `value` for the sentinel from its own state (?stale), ms since `t0` each;
 * gives up when `abandoned()` (the restore command failed) or after RESTORE_WAIT_MS.
 */
async function appliedEverywhere(
  endpoints: readonly string[],
  value: string,
  t0: number,
  abandoned: () => boolean,
): Promise<number[]> {
  const deadline = Date.now() + RESTORE_WAIT_MS;
  const seen = endpoints.map(() => 0);
  while (seen.some((ms) => ms === 0)) {
    if (abandoned()) throw new Error("restore failed: stopped waiting for the servers");
    if (Date.now() > deadline) throw new Error(`restore not applied everywhere in ${RESTORE_WAIT_MS} ms`);
    for (const [i, e] of endpoints.entries()) {
      if (seen[i] !== 0) continue;
      const got = await fetch(`${e}/v1/kv/${SENTINEL}?stale&raw`, { signal: AbortSignal.timeout(2000) })
        .then((r) => (r.ok ? r.text() : ""))
        .catch(() => ""); // busy installing the state: ask again
      if (got === value) seen[i] = performance.now() - t0;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return seen;
}

async function cairnRestore(c: CairnCluster, leader: number, file: string, sentinel: string) {
  const samplers = c.pids.map((pid) => sampleRss(pid));
  try {
    const t0 = performance.now();
    let failed = false;
    const cli = run(process.execPath, [
      CLI,
      "snapshot",
      "restore",
      `-http-addr=${c.endpoints[leader]}`,
      file,
    ]);
    const [{ ms: cliMs }, appliedMs] = await Promise.all([
      cli.catch((e: unknown) => {
        failed = true;
        throw e;
      }),
      appliedEverywhere(c.endpoints, sentinel, t0, () => failed),
    ]);
    return {
      restoreCliMs: cliMs,
      restoreAppliedMs: appliedMs,
      restoreRss: samplers.map((s) => s.stop()),
      restoreLeader: leader,
    };
  } finally {
    for (const s of samplers) s.stop();
  }
}

/** Distinct keys per chunk (the offset is in the prefix): every put adds a key, as in the bulk load. */
const cairnPuts =
  (endpoints: readonly string[]): ChunkedPuts =>
  (tag) =>
  (offset, count) =>
    kvPutCairn(endpoints, {
      total: count,
      clients: CLIENTS,
      valueBytes: VALUE_BYTES,
      keyPrefix: `bench/${tag}/${offset}-`,
    });

const etcdPuts =
  (endpoints: readonly string[]): ChunkedPuts =>
  (tag) =>
  (offset, count) =>
    kvPutEtcd(endpoints, {
      total: count,
      clients: CLIENTS,
      valueBytes: VALUE_BYTES,
      keyPrefix: `bench/${tag}/${offset}-`,
    });

async function startCairn(dir: string): Promise<CairnCluster> {
  const c = await startCairnCluster(dir);
  running.add(c.stop);
  return c;
}

async function cairnPhase(dir: string, keys: number): Promise<CairnFigures> {
  const c = await startCairn(join(dir, "cairn"));
  try {
    const load = await loadKeys("cairn", cairnBulk(c.endpoints), keys, progress);
    const leader = await leaderOf(c.endpoints);
    // The archive holds `before`; `after` is written once it is taken, so a server serving `before` again
    // has applied the restore, and not merely kept its old state.
    const before = `before-${randomBytes(6).toString("hex")}`;
    await kvPut(c.endpoints[leader] ?? "", SENTINEL, before);
    const file = join(dir, "cairn.snap");
    const loadAtSave = loadavg()[0] ?? 0;
    const save = await cairnSave(c, leader, file);
    await kvPut(c.endpoints[leader] ?? "", SENTINEL, `after-${randomBytes(6).toString("hex")}`);
    progress(`cairn: saved ${mb(save.archiveBytes)} in ${sec(save.saveMs)}`);
    const stream = await streamOnly(c.endpoints[leader] ?? "");
    const file2 = join(dir, "cairn-2.snap");
    rmSync(file2, { force: true });
    const save2 = () =>
      run(process.execPath, [CLI, "snapshot", "save", `-http-addr=${c.endpoints[leader]}`, file2]);
    const writes = await writesDuringSave(cairnPuts(c.endpoints), save2, save.saveMs);
    progress(`cairn: puts/s ${writes.baseline.toFixed(0)} before, ${writes.during.toFixed(0)} during a save`);
    const loadAtRestore = loadavg()[0] ?? 0;
    const restore = await cairnRestore(c, await leaderOf(c.endpoints), file, before);
    progress(`cairn: restored on all servers in ${sec(Math.max(...restore.restoreAppliedMs))}`);
    return {
      loadMs: load.ms,
      loadPerSec: load.perSec,
      loadRetries: load.retries,
      ...save,
      streamFirstByteMs: stream.firstByteMs,
      streamMs: stream.totalMs,
      baselinePutsPerSec: writes.baseline,
      duringSavePutsPerSec: writes.during,
      duringSaveMs: writes.duringSaveMs,
      failedChunks: writes.failedChunks,
      ...restore,
      loadAtSave,
      loadAtRestore,
    };
  } finally {
    running.delete(c.stop);
    await c.stop();
  }
}

interface EtcdFigures {
  readonly version: string;
  readonly loadMs: number;
  readonly saveMs: number;
  readonly statusMs: number;
  readonly dbBytes: number;
  readonly totalKey: number;
  readonly restoreMs: number;
  readonly baselinePutsPerSec: number;
  readonly duringSavePutsPerSec: number;
  /** 1-minute load average when etcd's save started. */
  readonly loadAtSave: number;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

/** The same keys and value sizes as cairn's load, ETCD_TXN_PUTS per v3 gateway txn: etcd's load is not timed
 * against a target, and loading it one put at a time would double the run. */
function etcdTxnLoad(endpoints: readonly string[]) {
  return (first: number, count: number): PutLoadOptions => ({
    method: "POST",
    clients: 16,
    total: Math.ceil(count / ETCD_TXN_PUTS),
    headers: { "content-type": "application/json" },
    url: (i) => `${endpoints[i % endpoints.length]}/v3/kv/txn`,
    body: (i) => {
      const from = first + i * ETCD_TXN_PUTS;
      const n = Math.min(ETCD_TXN_PUTS, first + count - from);
      const success = Array.from({ length: n }, (_, j) => ({
        requestPut: { key: b64(`${KEY_PREFIX}${from + j}`), value: b64(randomBytes(VALUE_BYTES)) },
      }));
      return JSON.stringify({ success });
    },
  });
}

async function startEtcd(dir: string): Promise<EtcdCluster> {
  const e = await startEtcdCluster(dir);
  running.add(e.stop);
  return e;
}

async function etcdPhase(dir: string, keys: number): Promise<EtcdFigures> {
  const e = await startEtcd(join(dir, "etcd"));
  try {
    const load = await loadKeys("etcd", etcdTxnLoad(e.endpoints), keys, progress);
    const ep = `--endpoints=${e.endpoints[0]}`;
    const file = join(dir, "etcd.db");
    rmSync(file, { force: true });
    const loadAtSave = loadavg()[0] ?? 0;
    const save = await run("etcdctl", [ep, "snapshot", "save", file]);
    const status = await run("etcdctl", ["snapshot", "status", file, "-w", "json"]);
    const st = JSON.parse(status.stdout) as { totalKey?: number; totalSize?: number };
    const restoreDir = join(dir, "etcd-restored");
    rmSync(restoreDir, { recursive: true, force: true });
    const restore = await run("etcdctl", ["snapshot", "restore", file, `--data-dir=${restoreDir}`]);
    progress(`etcd: save ${sec(save.ms)}, status ${sec(status.ms)}, restore ${sec(restore.ms)}`);
    const file2 = join(dir, "etcd-2.db");
    rmSync(file2, { force: true });
    const save2 = () => run("etcdctl", [ep, "snapshot", "save", file2]);
    const writes = await writesDuringSave(etcdPuts(e.endpoints), save2, save.ms);
    return {
      version: e.version.replace(" Version:", ""), // `etcd --version` says "etcd Version: 3.4.23"
      loadMs: load.ms,
      saveMs: save.ms,
      statusMs: status.ms,
      dbBytes: statSync(file).size,
      totalKey: st.totalKey ?? 0,
      restoreMs: restore.ms,
      baselinePutsPerSec: writes.baseline,
      duringSavePutsPerSec: writes.during,
      loadAtSave,
    };
  } finally {
    running.delete(e.stop);
    await e.stop();
  }
}

function progress(line: string): void {
  process.stderr.write(`bench snapshot: ${line}\n`);
}
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const mbps = (bytes: number, ms: number) => `${(bytes / MB / (ms / 1000)).toFixed(1)} MB/s`;
const met = (ok: boolean) => (ok ? "met" : "NOT met");

function row(what: string, cairn: string, etcd: string, verdict = ""): string {
  return `${what.padEnd(34)}${cairn.padEnd(34)}${etcd.padEnd(28)}${verdict}`;
}

/** Growth over the baseline, for the server that grew most (restore: all 3 are sampled). */
function rssGrowth(stats: readonly RssStats[]): { growth: number; text: string } {
  let worst = stats[0] ?? { baselineBytes: 0, maxBytes: 0, samples: 0 };
  for (const s of stats) if (s.maxBytes - s.baselineBytes > worst.maxBytes - worst.baselineBytes) worst = s;
  const growth = worst.maxBytes - worst.baselineBytes;
  return { growth, text: `+${mb(growth)} (${mb(worst.baselineBytes)} → ${mb(worst.maxBytes)})` };
}

/** The side-by-side table of one size, with each target's ratio and verdict. */
function report(keys: number, c: CairnFigures, e: EtcdFigures): string {
  const lines = [
    `\n== ${keys} keys x ${VALUE_BYTES} B random values; cairn 3 servers, ${e.version} 3 members ==`,
  ];
  lines.push(row("", "cairn", "etcd", "target"));
  lines.push(
    row(
      `load average (1 min, ${availableParallelism()} cores)`,
      `${c.loadAtSave.toFixed(1)} at save, ${c.loadAtRestore.toFixed(1)} at restore`,
      `${e.loadAtSave.toFixed(1)} at save`,
    ),
  );
  lines.push(
    row(
      "load",
      `${sec(c.loadMs)} (${c.loadPerSec.toFixed(0)}/s, ${CLIENTS} cl., ${c.loadRetries} retr.)`,
      `${sec(e.loadMs)} (txn x${ETCD_TXN_PUTS}, 16 cl.)`,
    ),
  );
  const saveRatio = c.saveMs / e.saveMs;
  lines.push(
    row(
      "save + verify",
      `${sec(c.saveMs)} (${mbps(c.archiveBytes, c.saveMs)})`,
      `save ${sec(e.saveMs)} (${mbps(e.dbBytes, e.saveMs)})`,
      `<= 1x etcd save: ${saveRatio.toFixed(2)}x ${met(saveRatio <= 1)}`,
    ),
  );
  lines.push(
    row(
      "  server stream alone / status",
      `1st byte ${sec(c.streamFirstByteMs)}, end ${sec(c.streamMs)}`,
      `status ${sec(e.statusMs)} (${e.totalKey} keys)`,
      `1st byte <= 100 ms: ${met(c.streamFirstByteMs <= 100)}`,
    ),
  );
  lines.push(row("archive / db file", mb(c.archiveBytes), mb(e.dbBytes)));
  const saveRss = rssGrowth([c.saveRss]);
  lines.push(row("leader RSS during save", saveRss.text, "", `<= +64 MB: ${met(saveRss.growth <= 64 * MB)}`));
  const share = c.duringSavePutsPerSec / c.baselinePutsPerSec;
  const etcdShare = e.duringSavePutsPerSec / e.baselinePutsPerSec;
  lines.push(
    row(
      "puts/s before -> during a save",
      `${c.baselinePutsPerSec.toFixed(0)} -> ${c.duringSavePutsPerSec.toFixed(0)} (${pct(share)})`,
      `${e.baselinePutsPerSec.toFixed(0)} -> ${e.duringSavePutsPerSec.toFixed(0)} (${pct(etcdShare)})`,
      `>= 80%: ${met(share >= 0.8)}`,
    ),
  );
  lines.push(row("  second save under load took", sec(c.duringSaveMs), ""));
  lines.push(row("  chunks with a failed put", String(c.failedChunks), ""));
  const appliedMs = Math.max(...c.restoreAppliedMs);
  const restoreRatio = appliedMs / e.restoreMs;
  lines.push(
    row(
      "restore (all applied / offline)",
      `${sec(appliedMs)} (CLI ${sec(c.restoreCliMs)})`,
      `${sec(e.restoreMs)} (1 member dir)`,
      `<= 3x etcd: ${restoreRatio.toFixed(2)}x ${met(restoreRatio <= 3)}`,
    ),
  );
  lines.push(row("  applied per server", c.restoreAppliedMs.map(sec).join(", "), ""));
  const restoreRss = rssGrowth(c.restoreRss);
  lines.push(
    row(
      "max server RSS during restore",
      restoreRss.text,
      "",
      `<= +64 MB: ${met(restoreRss.growth <= 64 * MB)}`,
    ),
  );
  const perServer = c.restoreRss.map(
    (s, i) => `${i === c.restoreLeader ? "*" : ""}+${mb(s.maxBytes - s.baselineBytes)}`,
  );
  lines.push(row("  per server (* got the upload)", perServer.join(", "), ""));
  return `${lines.join("\n")}\n`;
}
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * The sizes to run. The first is run as asked; each later one is checked against the load rate just measured
 * and, when loading it into cairn would exceed the budget, replaced by 300 k (or dropped), saying so.
 */
function nextSize(wanted: number, putsPerSec: number, budgetMin: number): number | null {
  const minutes = (n: number) => n / putsPerSec / 60;
  if (putsPerSec <= 0 || minutes(wanted) <= budgetMin) return wanted;
  const fallback = Math.min(wanted, 300_000);
  const note = `${wanted} keys would take ~${minutes(wanted).toFixed(0)} min to load at ${putsPerSec.toFixed(0)} puts/s`;
  if (fallback < wanted && minutes(fallback) <= budgetMin) {
    process.stdout.write(`${note} (budget ${budgetMin} min): running ${fallback} keys instead\n`);
    return fallback;
  }
  process.stdout.write(`${note} (budget ${budgetMin} min): skipped\n`);
  return null;
}

export async function snapshot(argv: readonly string[]): Promise<void> {
  const { values } = parseFlags(
    {
      keys: flag.string("100000,1000000", "comma-separated key counts, run in this order"),
      "load-budget-min": flag.int(20, "largest projected cairn load time of a size after the first"),
      dir: flag.string(
        "",
        "work directory, kept afterwards (default: a new one under the temp dir, removed)",
      ),
    },
    argv,
  );
  const sizes = values.keys.split(",").map(Number);
  if (sizes.some((n) => !(Number.isInteger(n) && n > 0))) throw new RangeError(`bad -keys ${values.keys}`);
  const root = values.dir === "" ? join(tmpdir(), `cairn-bench-snapshot-${process.pid}`) : values.dir;
  // A 300 k run leaves ~2.6 GB (3 server dirs, 3 etcd members, archives); kept only when -dir names a place.
  const removeRoot = () => {
    if (values.dir === "") rmSync(root, { recursive: true, force: true });
  };
  let rate = 0;
  await guarded(removeRoot, async () => {
    for (const [i, wanted] of sizes.entries()) {
      const keys = i === 0 ? wanted : nextSize(wanted, rate, values["load-budget-min"]);
      if (keys === null) continue;
      const dir = join(root, String(keys));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const c = await cairnPhase(dir, keys);
      rate = c.loadPerSec;
      const e = await etcdPhase(dir, keys);
      process.stdout.write(report(keys, c, e));
    }
  });
}
