/**
 * `npm run bench -- watch [-watchers 10000] [-keys 1000] [-prof-dir DIR]` (`-watchers 100,10000`: a run per count): issue 14's blocking-query target, cairn beside etcd
 * in the same run, one engine at a time. Each engine runs 3 servers on loopback; the leader holds W watchers on
 * W distinct keys (cairn: blocking GETs; etcd: watches through its v3 JSON gateway; bench/watch-engines.ts) and
 * takes the writes. Per engine it measures:
 * - the server's memory per watcher: its heap and RSS once all W are held, less the same before the first;
 * - wake latency: `-keys` of the watched keys are written one at a time; from the write sent, and from its
 *   acknowledgement, to the watcher's answer (a wake may come before the write's own answer: then "after ack"
 *   is negative), beside the write's own latency;
 * - that a write wakes only its own watcher: after each wake, no other watcher has answered (strays).
 * Prints both with the ratios, the load average, the cores and the file descriptors it needs, and node:http's
 * own heap per parked request (bench/http-floor.ts) beside cairn's. Not a test:
 * figures, never assertions.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { flag, parseFlags } from "../src/util/flags.js";
import { startCairnCluster } from "./cairn.js";
import { guarded, tracked } from "./children.js";
import { kvPutCairn, kvPutEtcd, startEtcdCluster } from "./etcd.js";
import { httpFloor } from "./http-floor.js";
import { percentile, runPutLoad } from "./load.js";
import {
  cairnEngine,
  cairnIndexes,
  cairnLeader,
  etcdEngine,
  etcdLeader,
  type Memory,
  type WatchEngine,
  type WatchEvents,
} from "./watch-engines.js";

const KEY_PREFIX = "w/k";
const keyOf = (i: number) => `${KEY_PREFIX}${i}`;
/** Watchers opened before waiting for the server to hold them all: keeps the listen backlog from overflowing. */
const OPEN_BATCH = 250;
const HOLD_WAIT_MS = 60_000;
const WAKE_WAIT_MS = 10_000;
/** Descriptors besides the watchers' sockets: the writer, probes, the put load's 64 sockets, stdio, libuv. */
const FDS_BESIDES_WATCHERS = 200;
const PROBE = fileURLToPath(new URL("./watch-probe.js", import.meta.url));

interface Figures {
  readonly api: string;
  readonly before: Memory;
  readonly held: Memory;
  readonly watchers: number;
  /** Per write, in ms: its own latency, its watcher's answer from the send and from the acknowledgement. */
  /** Sorted. */
  readonly writeMs: Float64Array;
  readonly wakeMs: Float64Array;
  readonly wakeAfterAckMs: Float64Array;
  readonly strays: number;
  readonly failures: readonly string[];
}

function progress(line: string): void {
  process.stderr.write(`bench watch: ${line}\n`);
}

/** The soft limit on open files of this process (/proc/self/limits), or null where unreadable. */
function fdLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** Polls `cond` every 20 ms until it holds; throws with `what` after `ms`. */
async function until(cond: () => Promise<boolean> | boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what()} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Which watchers were established and woke, and the one wake the writer waits for. */
class Tally implements WatchEvents {
  readonly wokeAt: Float64Array;
  establishedCount = 0;
  wokeCount = 0;
  readonly failures: string[] = [];
  private waiting: { i: number; resolve: () => void } | null = null;

  constructor(n: number) {
    this.wokeAt = new Float64Array(n);
  }

  established(): void {
    this.establishedCount++;
  }

  woke(i: number): void {
    if (this.wokeAt[i] !== 0) return;
    this.wokeAt[i] = performance.now();
    this.wokeCount++;
    if (this.waiting?.i === i) this.waiting.resolve();
  }

  failed(i: number, why: string): void {
    if (this.failures.length < 10) this.failures.push(`watcher ${i}: ${why}`);
  }

  /** Resolves once watcher i has woken; rejects after `ms`. */
  wakeOf(i: number, ms: number): Promise<void> {
    if (this.wokeAt[i] !== 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`watcher ${i} not woken ${ms} ms after its write`));
      }, ms);
      this.waiting = {
        i,
        resolve: () => {
          clearTimeout(timer);
          this.waiting = null;
          resolve();
        },
      };
    });
  }
}

/** Opens every watcher, measures the memory they take, then wakes `writes` of them one at a time. */
async function drive(
  engine: WatchEngine,
  tally: Tally,
  watchers: number,
  writes: number,
  etcdStyle: boolean,
): Promise<Figures> {
  const held = async () => (etcdStyle ? tally.establishedCount : ((await engine.held()) ?? 0));
  const before = await engine.memory();
  for (let opened = 0; opened < watchers; ) {
    const end = Math.min(watchers, opened + OPEN_BATCH);
    for (; opened < end; opened++) engine.open(opened);
    const want = opened;
    await until(
      async () => (await held()) >= want || tally.failures.length > 0,
      HOLD_WAIT_MS,
      () => {
        return `${engine.name} holds fewer than ${want} watchers`;
      },
    );
    if (tally.failures.length > 0) throw new Error(`${engine.name}: ${tally.failures.join("; ")}`);
  }
  progress(`${engine.name}: ${watchers} watchers held`);
  const heldMemory = await engine.memory();
  const writeMs = new Float64Array(writes);
  const wakeMs = new Float64Array(writes);
  const wakeAfterAckMs = new Float64Array(writes);
  let strays = 0;
  for (let j = 0; j < writes; j++) {
    // Spread over the watched keys, each written once.
    const i = Math.floor((j * watchers) / writes);
    const woken = tally.wakeOf(i, WAKE_WAIT_MS);
    const t0 = performance.now();
    await engine.write(i, `v${j}`);
    const acked = performance.now();
    await woken;
    const at = tally.wokeAt[i] ?? 0;
    writeMs[j] = acked - t0;
    wakeMs[j] = at - t0;
    wakeAfterAckMs[j] = at - acked;
    // Every write so far has woken its own watcher; anything beyond is a wake of somebody else's.
    strays = Math.max(strays, tally.wokeCount - (j + 1));
  }
  for (const a of [writeMs, wakeMs, wakeAfterAckMs]) a.sort();
  return {
    api: engine.api,
    before,
    held: heldMemory,
    watchers,
    writeMs,
    wakeMs,
    wakeAfterAckMs,
    strays,
    failures: tally.failures,
  };
}

async function runCairn(
  dir: string,
  watchers: number,
  writes: number,
  profArgs: readonly string[],
): Promise<Figures> {
  mkdirSync(dir, { recursive: true });
  const cluster = await startCairnCluster(join(dir, "cairn"), 3, {
    nodeArgs: ["--expose-gc", ...profArgs, "--import", PROBE],
    env: { CAIRN_WATCH_PROBE: dir },
  });
  const stop = tracked(() => cluster.stop());
  try {
    const leader = await cairnLeader(cluster.endpoints);
    const endpoint = cluster.endpoints[leader]!;
    await runPutLoad(
      kvPutCairn([endpoint], { total: watchers, clients: 64, valueBytes: 16, keyPrefix: KEY_PREFIX }),
    );
    const indexes = await cairnIndexes(endpoint, KEY_PREFIX);
    progress(`cairn: ${indexes.size} keys loaded`);
    const tally = new Tally(watchers);
    const engine = cairnEngine(
      endpoint,
      cluster.pids[leader]!,
      dir,
      keyOf,
      (i) => indexes.get(keyOf(i)) ?? 0,
      tally,
    );
    try {
      return await drive(engine, tally, watchers, writes, false);
    } finally {
      engine.close();
    }
  } finally {
    await stop();
  }
}

async function runEtcd(dir: string, watchers: number, writes: number): Promise<Figures> {
  mkdirSync(dir, { recursive: true });
  const cluster = await startEtcdCluster(join(dir, "etcd"));
  const stop = tracked(() => cluster.stop());
  try {
    const leader = await etcdLeader(cluster.endpoints);
    const endpoint = cluster.endpoints[leader]!;
    await runPutLoad(
      kvPutEtcd([endpoint], { total: watchers, clients: 64, valueBytes: 16, keyPrefix: KEY_PREFIX }),
    );
    progress(`etcd: ${watchers} keys loaded (${cluster.version})`);
    const tally = new Tally(watchers);
    const engine = etcdEngine(endpoint, keyOf, tally);
    try {
      return await drive(engine, tally, watchers, writes, true);
    } finally {
      engine.close();
    }
  } finally {
    await stop();
  }
}

/** The report's columns: a header and how wide each value is. */
const COLUMNS = [
  ["engine", 11],
  ["heap B/w", 9],
  ["rss B/w", 9],
  ["write p50", 9],
  ["p99", 8],
  ["wake p50", 8],
  ["p99", 8],
  ["after ack p50", 13],
  ["p99", 8],
  ["strays", 6],
] as const;

function line(cells: readonly string[]): string {
  return cells
    .map((c, n) => (n === 0 ? c.padEnd(COLUMNS[n]![1]) : c.padStart(COLUMNS[n]?.[1] ?? 0)))
    .join("  ");
}

function row(name: string, f: Figures): string {
  const perWatcher = (a: number, b: number) => ((a - b) / f.watchers).toFixed(0);
  const ms = (sorted: Float64Array, q: number) => percentile(sorted, q).toFixed(2);
  return line([
    name,
    perWatcher(f.held.heapBytes, f.before.heapBytes),
    perWatcher(f.held.rssBytes, f.before.rssBytes),
    ms(f.writeMs, 0.5),
    ms(f.writeMs, 0.99),
    ms(f.wakeMs, 0.5),
    ms(f.wakeMs, 0.99),
    ms(f.wakeAfterAckMs, 0.5),
    ms(f.wakeAfterAckMs, 0.99),
    String(f.strays),
  ]);
}

/** The watcher counts of `-watchers`. */
function watcherCounts(list: string): number[] {
  const counts = list.split(",").map((x) => Number(x.trim()));
  if (counts.some((w) => !Number.isSafeInteger(w) || w < 1)) {
    throw new RangeError(`-watchers takes positive counts, comma-separated: ${list}`);
  }
  return counts;
}

export async function watch(argv: readonly string[]): Promise<void> {
  const { values } = parseFlags(
    {
      watchers: flag.string(
        "10000",
        "concurrent watchers held by one server, each on its own key (a list: 100,10000)",
      ),
      keys: flag.int(
        1_000,
        "watched keys written, one at a time, each waking its watcher (at most the watchers)",
      ),
      "prof-dir": flag.string(
        "",
        "run cairn's servers with --cpu-prof and --heap-prof, profiles written here",
      ),
    },
    argv,
  );
  const writes = values.keys;
  if (!(writes >= 1)) throw new RangeError(`-keys must be at least 1: ${writes}`);
  const counts = watcherCounts(values.watchers);
  const needFds = Math.max(...counts) + FDS_BESIDES_WATCHERS;
  const limit = fdLimit();
  if (limit !== null && limit < needFds) {
    throw new Error(
      `${needFds - FDS_BESIDES_WATCHERS} watchers need about ${needFds} open files; raise it: ulimit -n ${needFds}`,
    );
  }
  const prof = values["prof-dir"];
  const profArgs =
    prof === "" ? [] : ["--cpu-prof", "--cpu-prof-dir", prof, "--heap-prof", "--heap-prof-dir", prof];
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-watch-"));
  const loads: string[] = [];
  const noteLoad = (when: string) => loads.push(`${when} ${(loadavg()[0] ?? 0).toFixed(2)}`);
  const runs = await guarded(
    () => rmSync(dir, { recursive: true, force: true }),
    async () => {
      const out: { watchers: number; cairn: Figures; etcd: Figures; floor: number }[] = [];
      noteLoad("start");
      for (const w of counts) {
        const cairn = await runCairn(join(dir, `c${w}`), w, Math.min(w, writes), profArgs);
        noteLoad(`after cairn ${w}`);
        const etcd = await runEtcd(join(dir, `e${w}`), w, Math.min(w, writes));
        noteLoad(`after etcd ${w}`);
        const floor = await httpFloor(w);
        out.push({ watchers: w, cairn, etcd, floor });
      }
      return out;
    },
  );
  const heapPer = (f: Figures) => (f.held.heapBytes - f.before.heapBytes) / f.watchers;
  const p99 = (a: Float64Array) => percentile(a, 0.99);
  const first = runs[0]!;
  const lines = [
    `watchers on distinct keys (${counts.join(", ")}), held by the leader of 3 servers on 127.0.0.1; ${writes} ` +
      "of the keys (at most all) written one at a time through the same server, each awaited until its watcher answers",
    `cairn: ${first.cairn.api}`,
    `etcd:  ${first.etcd.api}; its heap is Go's heap_alloc as /metrics reports it, not collected first`,
    `${availableParallelism()} cores; load average (1 min): ${loads.join(", ")}`,
    `open files: this process and each server need about watchers + ${FDS_BESIDES_WATCHERS} ` +
      `(soft limit here: ${limit ?? "unknown"})`,
    "",
    line(COLUMNS.map(([h]) => h)),
  ];
  for (const r of runs) lines.push(row(`cairn ${r.watchers}`, r.cairn), row(`etcd ${r.watchers}`, r.etcd));
  lines.push(
    "",
    "(B/w: bytes per watcher; latencies in ms; wake: from the write sent to the watcher's answer; after ack: from",
    " the write's own answer, negative when the watcher answered first; strays: other watchers that answered)",
    "",
  );
  for (const { watchers, cairn, etcd, floor } of runs) {
    lines.push(
      `${watchers} watchers, cairn / etcd: heap per watcher ${(heapPer(cairn) / heapPer(etcd)).toFixed(2)}x, ` +
        `wake p99 ${(p99(cairn.wakeMs) / p99(etcd.wakeMs)).toFixed(2)}x, ` +
        `write p99 ${(p99(cairn.writeMs) / p99(etcd.writeMs)).toFixed(2)}x; issue 14 target 3: heap per blocked ` +
        `GET <= 2048 B: ${heapPer(cairn) <= 2048 ? "met" : "NOT met"} (${heapPer(cairn).toFixed(0)} B), a write ` +
        `wakes only its watcher: ${cairn.strays === 0 ? "met" : `NOT met (${cairn.strays} strays)`}`,
    );
    lines.push(
      `  of cairn's heap per watcher, node:http's own (a bare server of Node ${process.version} holding ` +
        `${watchers} parked GETs, bench/http-floor.ts): ${floor.toFixed(0)} B; cairn's above it: ` +
        `${(heapPer(cairn) - floor).toFixed(0)} B`,
    );
    for (const f of [...cairn.failures, ...etcd.failures]) lines.push(`failure: ${f}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
