/**
 * `npm run bench -- agent [-keys 1000000] [-runs 1] [-stores s3,azure]`: one tick of `cairn snapshot agent`
 * (save, verify, upload, read back, retention) against what an operator would otherwise do by hand, `cairn
 * snapshot save` plus a plain SDK upload of the file, for s3rver and Azurite on loopback; and the agent's memory
 * during a tick over its idle memory. Not a test: it prints figures and whether each target is met, never fails
 * on a miss. Targets (the snapshot agent's acceptance): tick ≤ 1.2 × (save + upload); peak RSS ≤ idle + 100 MB.
 *
 * A 1-server datacenter is loaded with N keys of 256 random bytes and saved once, uncounted (the first save after
 * a bulk load is slower); then, per store:
 * - baseline: the `snapshot save` CLI (a child, timed end to end) + an SDK upload of its file from this process
 *   with the agent store's part size and parallelism; a plain read-back of it is timed too (not in the sum);
 * - one shot: `snapshot agent -interval=0` as a child, timed end to end (its start-up included, as the save
 *   CLI's is in the baseline), RSS sampled from its spawn;
 * - daemon: `snapshot agent` with an interval and `-listen`, whose first tick is held back by writing "this tick
 *   is done" into its lock key before it starts. Idle RSS is its RSS right before that tick (everything loaded,
 *   lock held, listener up, nothing done yet); peak is the highest RSS during the tick. Its own metrics give the
 *   tick's time in-process and the part spent uploading and reading back.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { LOCK_FLAG_VALUE } from "../src/client/index.js";
import { flag, parseFlags } from "../src/util/flags.js";
import { endProcess, startNode } from "../test/support/child.js";
import { azuriteStore, type BenchStore, s3rverStore } from "./agent-stores.js";
import { cairnBulk, loadKeys, VALUE_BYTES } from "./bulk-load.js";
import { startCairnCluster } from "./cairn.js";
import { CLI, guarded, run, tracked } from "./children.js";
import { type RssSampler, type RssStats, sampleRss } from "./rss.js";

const MB = 1024 * 1024;
const TICK_RATIO_TARGET = 1.2;
const RSS_GROWTH_TARGET = 100 * MB;
/** The daemon's tick comes at least this long after the daemon is started: time to start and go idle. */
const IDLE_LEAD_MS = 8000;
/** Idle RSS is read this long before the tick's grid time. */
const IDLE_SAMPLE_BEFORE_MS = 500;
/** The daemon's shortest interval; it is also made twice the one-shot's time, so the tick ends before the next. */
const DAEMON_INTERVAL_MIN_MS = 20_000;
const DAEMON_START_TIMEOUT_MS = 30_000;
const TICK_TIMEOUT_MS = 15 * 60_000;
const METRICS_POLL_MS = 100;
const DAEMON_READY = /Serving \/metrics and \/health on http:\/\/(\S+)[\s\S]*Obtained leadership/;
const BASELINE_KEY = "bench/baseline.snap";

interface Baseline {
  readonly saveMs: number;
  readonly uploadMs: number;
  readonly readBackMs: number;
  readonly archiveBytes: number;
  /** This process's RSS before and during the plain upload and read-back: what the SDK alone costs. */
  readonly sdkRss: RssStats;
}

interface OneShot {
  readonly ms: number;
  readonly rss: RssStats;
}

interface DaemonTick {
  readonly intervalMs: number;
  /** RSS right before the tick, and the highest during it. */
  readonly rss: RssStats;
  /** The agent's own figures: the whole backup, and uploading plus reading back. */
  readonly tickMs: number;
  readonly uploadReadBackMs: number;
}

interface StoreFigures {
  readonly store: BenchStore;
  readonly baselines: readonly Baseline[];
  readonly oneShots: readonly OneShot[];
  readonly daemon: DaemonTick;
  readonly load: number;
}

function progress(line: string): void {
  process.stderr.write(`bench agent: ${line}\n`);
}
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const met = (ok: boolean) => (ok ? "met" : "NOT met");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The agent's environment: this process's, no instance-metadata probe, and what the store needs. */
function agentEnv(store: BenchStore): NodeJS.ProcessEnv {
  return { ...process.env, AWS_EC2_METADATA_DISABLED: "true", ...store.agentEnv };
}

/** `cairn snapshot save` + a plain SDK upload of its file; the plain read-back is timed apart. */
async function baseline(endpoint: string, store: BenchStore, dir: string): Promise<Baseline> {
  const file = join(dir, "baseline.snap");
  rmSync(file, { force: true });
  try {
    const save = await run(process.execPath, [CLI, "snapshot", "save", `-http-addr=${endpoint}`, file]);
    const archiveBytes = statSync(file).size;
    const sdk = sampleRss(process.pid, 10);
    let uploadMs: number;
    let readBackMs: number;
    let back: { bytes: number };
    try {
      const t0 = performance.now();
      await store.upload(file, BASELINE_KEY);
      uploadMs = performance.now() - t0;
      const t1 = performance.now();
      back = await store.readBack(BASELINE_KEY);
      readBackMs = performance.now() - t1;
    } finally {
      sdk.stop();
    }
    if (back.bytes !== archiveBytes) {
      throw new Error(`${store.name}: read back ${back.bytes} bytes of ${archiveBytes} uploaded`);
    }
    await store.remove(BASELINE_KEY);
    return { saveMs: save.ms, uploadMs, readBackMs, archiveBytes, sdkRss: sdk.stop() };
  } finally {
    rmSync(file, { force: true });
  }
}

function agentArgs(endpoint: string, store: BenchStore, scratch: string): string[] {
  return [
    CLI,
    "snapshot",
    "agent",
    `-http-addr=${endpoint}`,
    `-local-scratch-path=${scratch}`,
    ...store.agentArgs,
  ];
}

/** One `snapshot agent -interval=0` run, timed from its spawn to its exit, RSS sampled every 10 ms. */
async function oneShot(endpoint: string, store: BenchStore, scratch: string): Promise<OneShot> {
  const sampler: { rss: RssSampler | null } = { rss: null };
  try {
    const { ms } = await run(process.execPath, [...agentArgs(endpoint, store, scratch), "-interval=0"], {
      env: agentEnv(store),
      onSpawn: (pid) => {
        sampler.rss = sampleRss(pid, 10);
      },
    });
    if (sampler.rss === null) throw new Error("the one-shot agent was not sampled");
    return { ms, rss: sampler.rss.stop() };
  } finally {
    sampler.rss?.stop();
  }
}

/** Sum of a metric's samples whose labels contain `label` (all of them when it is ""). */
function metricSum(text: string, name: string, label = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m?.[1] === name && (m[2] ?? "").includes(label)) sum += Number(m[3]);
  }
  return sum;
}

async function getText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return r.text();
}

/**
 * Writes "tick `tick` is done" into the lock key as the active agent does after a backup, so that a daemon
 * starting now waits for the next tick on the grid. The value's shape is src/snapshot-agent/agent.ts's LastTick;
 * if it changes, the daemon backs up at once, and daemonTick() says so instead of measuring.
 */
async function holdBackUntilAfter(endpoint: string, lockKey: string, tick: number): Promise<void> {
  const value = JSON.stringify({ tick, timeMs: Date.now(), id: "bench", index: "0" });
  const r = await fetch(`${endpoint}/v1/kv/${lockKey}?flags=${LOCK_FLAG_VALUE}`, {
    method: "PUT",
    body: value,
  });
  if (!r.ok || (await r.text()).trim() !== "true") throw new Error(`seeding ${lockKey} answered ${r.status}`);
}

/** The daemon's first tick: idle RSS right before it, peak during it, and its own timing of it. */
async function daemonTick(
  endpoint: string,
  store: BenchStore,
  scratch: string,
  intervalMs: number,
): Promise<DaemonTick> {
  const lockKey = `bench/agent-lock-${store.name.toLowerCase()}`;
  const tick = Math.floor((Date.now() + IDLE_LEAD_MS) / intervalMs);
  const tickAt = (tick + 1) * intervalMs;
  await holdBackUntilAfter(endpoint, lockKey, tick);
  const args = [
    ...agentArgs(endpoint, store, scratch),
    `-interval=${intervalMs / 1000}s`,
    "-listen=127.0.0.1:0",
    `-lock-key=${lockKey}`,
  ];
  const { proc, match } = await startNode(
    args,
    { env: agentEnv(store) },
    DAEMON_READY,
    DAEMON_START_TIMEOUT_MS,
  );
  const stop = tracked(() => endProcess(proc, "SIGTERM"));
  try {
    const status = `http://${match[1]}`;
    const attempts = (m: string) => metricSum(m, "cairn_snapshot_agent_snapshots_total");
    const untilTick = tickAt - IDLE_SAMPLE_BEFORE_MS - Date.now();
    if (untilTick < 1000)
      throw new Error(`the daemon took too long to start (${sec(IDLE_LEAD_MS - untilTick)})`);
    progress(`${store.name}: daemon idle, its tick comes in ${sec(untilTick + IDLE_SAMPLE_BEFORE_MS)}`);
    await sleep(untilTick);
    if (attempts(await getText(`${status}/metrics`)) !== 0) {
      throw new Error(
        "the daemon backed up before its tick: the lock key's last tick no longer holds it back",
      );
    }
    const rss = sampleRss(proc.pid ?? 0, 10);
    let metrics = "";
    try {
      const deadline = Date.now() + TICK_TIMEOUT_MS;
      while (attempts(metrics) === 0) {
        if (Date.now() > deadline) throw new Error(`no tick within ${TICK_TIMEOUT_MS} ms`);
        await sleep(METRICS_POLL_MS);
        metrics = await getText(`${status}/metrics`);
      }
    } finally {
      rss.stop();
    }
    if (metricSum(metrics, "cairn_snapshot_agent_snapshots_total", 'result="success"') !== 1) {
      throw new Error(`the daemon's tick failed: ${await getText(`${status}/health`)}`);
    }
    return {
      intervalMs,
      rss: rss.stop(),
      tickMs: metricSum(metrics, "cairn_snapshot_agent_snapshot_duration_seconds_sum") * 1000,
      uploadReadBackMs: metricSum(metrics, "cairn_snapshot_agent_upload_duration_seconds_sum") * 1000,
    };
  } finally {
    await stop();
  }
}

async function storePhase(
  endpoint: string,
  start: () => Promise<BenchStore>,
  dir: string,
  runs: number,
): Promise<StoreFigures> {
  const store = await start();
  try {
    const scratch = join(dir, `scratch-${store.name}`);
    mkdirSync(scratch, { recursive: true });
    const load = loadavg()[0] ?? 0;
    const baselines: Baseline[] = [];
    const oneShots: OneShot[] = [];
    for (let r = 0; r < runs; r++) {
      const b = await baseline(endpoint, store, dir);
      baselines.push(b);
      progress(
        `${store.name}: baseline save ${sec(b.saveMs)} + upload ${sec(b.uploadMs)} (${mb(b.archiveBytes)})`,
      );
      const o = await oneShot(endpoint, store, scratch);
      oneShots.push(o);
      progress(`${store.name}: one-shot agent ${sec(o.ms)}, peak RSS ${mb(o.rss.maxBytes)}`);
    }
    const intervalMs =
      Math.ceil(Math.max(DAEMON_INTERVAL_MIN_MS, 2 * Math.max(...oneShots.map((o) => o.ms))) / 1000) * 1000;
    const daemon = await daemonTick(endpoint, store, scratch, intervalMs);
    progress(
      `${store.name}: daemon tick ${sec(daemon.tickMs)}, RSS ${mb(daemon.rss.baselineBytes)} → ${mb(daemon.rss.maxBytes)}`,
    );
    return { store, baselines, oneShots, daemon, load };
  } finally {
    await store.stop();
  }
}

function row(cells: readonly string[]): string {
  const widths = [9, 22, 14, 16, 10, 10, 10, 20];
  return cells.map((c, i) => c.padEnd(widths[i] ?? 12)).join("");
}

interface RunInfo {
  readonly keys: number;
  readonly runs: number;
  /** `cairn version`, from spawn to exit: what every CLI run pays before it does anything. */
  readonly startupMs: number;
  /** The uncounted first save after the load. */
  readonly warmUpMs: number;
}

function report({ keys, runs, startupMs, warmUpMs }: RunInfo, figures: readonly StoreFigures[]): string {
  const out = [
    `\n== snapshot agent tick, ${keys} keys x ${VALUE_BYTES} B random values, 1 cairn server; median of ${runs} run(s) ==`,
    row(["store", "save + upload", "agent tick", "ratio", "archive", "idle RSS", "peak RSS", "growth"]),
  ];
  for (const f of figures) {
    const base = median(f.baselines.map((b) => b.saveMs + b.uploadMs));
    const tick = median(f.oneShots.map((o) => o.ms));
    const ratio = tick / base;
    const { baselineBytes: idle, maxBytes: peak } = f.daemon.rss;
    const growth = peak - idle;
    out.push(
      row([
        f.store.name,
        sec(base),
        sec(tick),
        `${ratio.toFixed(2)}x ${met(ratio <= TICK_RATIO_TARGET)}`,
        mb(median(f.baselines.map((b) => b.archiveBytes))),
        mb(idle),
        mb(peak),
        `+${mb(growth)} ${met(growth <= RSS_GROWTH_TARGET)}`,
      ]),
    );
  }
  out.push(
    `targets: agent tick <= ${TICK_RATIO_TARGET}x (save + upload); peak RSS <= idle + ${mb(RSS_GROWTH_TARGET)}`,
    "agent tick: `snapshot agent -interval=0` from spawn to exit (save, verify, upload, read back, retention);",
    "  save + upload: `snapshot save` from spawn to exit, then an SDK upload of its file from the bench process.",
    "idle/peak RSS: a daemon (interval, -listen) held back by its lock key: RSS right before its first tick, and",
    "  the highest during it (VmRSS every 10 ms).",
    `CLI start-up alone (\`cairn version\`): ${sec(startupMs)}, paid once by each side. The first save after the` +
      ` load (${sec(warmUpMs)}) is not counted.`,
  );
  for (const f of figures) {
    const b = (pick: (x: Baseline) => number) => sec(median(f.baselines.map(pick)));
    const d = f.daemon;
    const plainParts = median(f.baselines.map((x) => x.saveMs + x.uploadMs + x.readBackMs));
    out.push(
      `\n${f.store.name} (load average ${f.load.toFixed(1)} on ${availableParallelism()} cores at its start):`,
      `  baseline: save ${b((x) => x.saveMs)} + upload ${b((x) => x.uploadMs)} (${f.store.uploadHow})`,
      `  plain read-back (SDK GET + SHA-256, not in the baseline): ${b((x) => x.readBackMs)}`,
      `  plain upload + read-back grew the bench process's RSS by ${mb(Math.max(...f.baselines.map((x) => x.sdkRss.maxBytes - x.sdkRss.baselineBytes)))} (most of ${f.baselines.length})`,
      `  save + upload + plain read-back: ${sec(plainParts)}; agent tick / that: ${(median(f.oneShots.map((o) => o.ms)) / plainParts).toFixed(2)}x`,
      `  one-shot runs: ${f.oneShots.map((o) => sec(o.ms)).join(", ")}; its peak RSS ${mb(Math.max(...f.oneShots.map((o) => o.rss.maxBytes)))}`,
      `  daemon tick (its metrics, in-process): ${sec(d.tickMs)} = save + verify + retention ${sec(d.tickMs - d.uploadReadBackMs)}` +
        ` + upload + read-back ${sec(d.uploadReadBackMs)} (interval ${sec(d.intervalMs)})`,
    );
  }
  return `${out.join("\n")}\n`;
}

export async function agent(argv: readonly string[]): Promise<void> {
  const { values } = parseFlags(
    {
      keys: flag.int(1_000_000, "keys loaded into the datacenter"),
      runs: flag.int(1, "baseline and one-shot runs per store (the table shows medians)"),
      stores: flag.string("s3,azure", "comma-separated stores to run: s3 (s3rver), azure (Azurite)"),
    },
    argv,
  );
  const { keys, runs } = values;
  if (!(keys > 0)) throw new RangeError(`bad -keys ${keys}`);
  if (!(runs > 0 && runs <= 20)) throw new RangeError(`bad -runs ${runs}: 1 to 20`);
  const starters: Record<string, () => Promise<BenchStore>> = { s3: s3rverStore, azure: azuriteStore };
  const stores = values.stores.split(",").map((s) => {
    const start = starters[s];
    if (start === undefined) throw new RangeError(`bad -stores ${values.stores}: s3 and azure`);
    return start;
  });
  const root = mkdtempSync(join(tmpdir(), "cairn-bench-agent-"));
  await guarded(
    () => rmSync(root, { recursive: true, force: true }),
    async () => {
      const cluster = await startCairnCluster(join(root, "cairn"), 1);
      const stopCluster = tracked(cluster.stop);
      const endpoint = cluster.endpoints[0] ?? "";
      const load = await loadKeys("cairn", cairnBulk(cluster.endpoints), keys, progress);
      progress(`loaded ${keys} keys in ${sec(load.ms)}`);
      // The first save after a bulk load is slower (up to ~1.7x at 1 M keys, the server still settling): one
      // save nobody is timed on, so that neither side pays it.
      const warmFile = join(root, "warm-up.snap");
      const warm = await run(process.execPath, [CLI, "snapshot", "save", `-http-addr=${endpoint}`, warmFile]);
      rmSync(warmFile, { force: true });
      progress(`warm-up save ${sec(warm.ms)} (not counted)`);
      const startupMs = (await run(process.execPath, [CLI, "version"])).ms;
      const figures: StoreFigures[] = [];
      for (const start of stores) figures.push(await storePhase(endpoint, start, root, runs));
      await stopCluster();
      process.stdout.write(report({ keys, runs, startupMs, warmUpMs: warm.ms }, figures));
    },
  );
}
