/**
 * One torture run: start the datacenter, run the clients and the nemesis for the given time, heal everything,
 * read every key consistently, and judge. Every child is killed on the way out, whatever happened; the run's
 * directory (data dirs and the servers' logs) is removed on a pass and kept on a failure, for the reproducer.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckResult, Operation } from "../sim/linearizability.js";
import { SeededRng } from "../util/rng.js";
import { Archiver, asReads, checkRestores } from "./archives.js";
import { checkConvergence } from "./converge.js";
import { drawSchedule, driftSchedule, type FaultKind, type NemesisLog, runNemesis } from "./faults.js";
import { Datacenter } from "./servers.js";
import { judgeTtlLocks, type TtlLockVerdict } from "./ttl-locks.js";
import { judge, type Verdicts } from "./verdict.js";
import { type OperationMix, request, Workload } from "./workload.js";

export interface TortureOptions {
  readonly servers: number;
  readonly minutes: number;
  readonly faults: readonly FaultKind[];
  readonly seed: number;
  readonly workers: number;
  /**
   * A deliberate mistake, to show the checks catch it (`--bug`): stale reads taken for consistent ones
   * (workload.ts staleAsConsistent), or a leader's clock drifting far out of bounds (faults.ts driftSchedule).
   */
  readonly bug?: TortureBug;
  /** Progress lines (stderr in the CLI). */
  readonly progress: (line: string) => void;
}

export interface TortureReport {
  readonly passed: boolean;
  readonly text: string;
  readonly verdicts: Verdicts | null;
  readonly operations: number;
  readonly injected: Record<string, number>;
  readonly dir: string | null;
}

const REQUEST_TIMEOUT_MS = 5_000;
const SETTLE_MS = 60_000;
const DRIFT_REQUEST_TIMEOUT_MS = 1_000;
const DRIFT_MIX: OperationMix = { put: 0.35, cas: 0.05, consistent: 0.05, stale: 0.05, default: 0.5 };
/** Operations of the key a linearizability failure names shown in its report, up to where it stuck and after. */
const KEY_HISTORY_BEFORE = 60;
const KEY_HISTORY_AFTER = 15;
/** Lines of each server's log a failure's report ends with. */
const LOG_TAIL_LINES = 15;

export const TORTURE_BUGS = ["stale-reads-as-consistent", "clock-drift"] as const;
export type TortureBug = (typeof TORTURE_BUGS)[number];

export async function runTorture(o: TortureOptions): Promise<TortureReport> {
  const rng = new SeededRng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), "cairn-torture-"));
  const netOctet = 100 + Math.floor(Math.random() * 150);
  const drift = o.bug === "clock-drift";
  const schedule = drift
    ? driftSchedule(rng.fork(), 10_000)
    : drawSchedule(rng.fork(), o.faults, o.servers, 10_000);
  const nemesis: NemesisLog = {
    lines: [],
    injected: {},
    clockWindows: [],
    tell: (l) => o.progress(`torture: ${l}`),
  };
  const t0 = Date.now();
  const now = (): number => Date.now() - t0;
  let dc: Datacenter | null = null;
  let workload: Workload | null = null;
  let archiver: Archiver | null = null;
  let restoreProblems: string[] = [];
  let ttl: TtlLockVerdict | null = null;
  let divergence: string | null = null;
  let verdicts: Verdicts | null = null;
  let problem: string | null = null;
  const leaders: number[] = [];
  try {
    dc = await Datacenter.start(dir, o.servers, netOctet, drift ? { CAIRN_TORTURE_DRIFT: "1" } : {}, {
      clock: drift || o.faults.includes("clock"),
      disk: o.faults.includes("disk"),
    });
    const endpoints = dc.servers.map((s) => s.http);
    const leaderOf = (): Promise<number | null> => findLeader(endpoints);
    o.progress(`torture: ${o.servers} servers in ${dir}, seed ${o.seed}; waiting for a leader`);
    if ((await waitLeader(leaderOf, SETTLE_MS)) === null)
      throw new Error(`no leader within ${SETTLE_MS} ms of start`);
    workload = new Workload({
      workers: o.workers,
      lockWorkers: 3,
      ttlLockWorkers: 3,
      staleAsConsistent: o.bug === "stale-reads-as-consistent",
      // The drifting leader's lease answers default reads; make them many, and give up on the cut-off leader's
      // writes soon, so the clients keep reading through each drift.
      ...(drift ? { mix: DRIFT_MIX } : {}),
      keysPerEpoch: 4,
      keyEpochMs: 15_000,
      requestTimeoutMs: drift ? DRIFT_REQUEST_TIMEOUT_MS : REQUEST_TIMEOUT_MS,
      endpoints,
      rng: rng.fork(),
      now,
    });
    const endAt = Date.now() + o.minutes * 60_000;
    const over = (): boolean => Date.now() >= endAt;
    const clients = workload.run();
    archiver = new Archiver(dir, endpoints, rng.fork(), now);
    const saving = archiver.run();
    const faults =
      o.faults.length === 0 && !drift
        ? Promise.resolve()
        : runNemesis(dc, schedule, leaderOf, over, nemesis, t0, rng.fork());
    const ticker = setInterval(
      () => o.progress(`torture: ${(now() / 1000).toFixed(0)}s, ${workload?.history.length ?? 0} operations`),
      15_000,
    );
    const watching = watchLeaders(leaderOf, over, leaders);
    await faults;
    while (!over()) await new Promise((r) => setTimeout(r, 200));
    clearInterval(ticker);
    await watching;
    workload.stop();
    archiver.stop();
    await Promise.all([clients, saving]);
    dc.healAll();
    o.progress("torture: healed; waiting for a leader to read every key");
    if ((await waitLeader(leaderOf, SETTLE_MS)) === null)
      throw new Error(`no leader within ${SETTLE_MS} ms of healing`);
    const finalReads = await readAll(workload, endpoints);
    o.progress("torture: waiting for every replica to converge");
    divergence = await checkConvergence(endpoints, SETTLE_MS);
    const archiveReads = asReads(archiver.archives, workload.history);
    verdicts = judge(workload.history, finalReads, archiveReads, workload.looseReads, workload.written);
    o.progress(`torture: restoring ${archiver.archives.length} archives into a scratch server`);
    restoreProblems = await checkRestores(join(dir, "scratch"), archiver.archives);
    ttl = judgeTtlLocks(workload.ttlLocks, nemesis.clockWindows);
  } catch (e) {
    problem = e instanceof Error ? (e.stack ?? e.message) : String(e);
  } finally {
    workload?.stop();
    archiver?.stop();
    await dc?.stop();
  }
  const passed =
    problem === null &&
    verdicts !== null &&
    verdicts.linearizability.outcome === "ok" &&
    verdicts.lost.length === 0 &&
    verdicts.phantomReads.length === 0 &&
    restoreProblems.length === 0 &&
    ttl !== null &&
    ttl.violations.length === 0 &&
    ttl.insideLockDelay.length === 0 &&
    divergence === null;
  const text = report(
    o,
    workload,
    nemesis,
    leaders,
    verdicts,
    problem,
    passed,
    dir,
    archiver,
    restoreProblems,
    ttl,
    divergence,
  );
  if (passed) rmSync(dir, { recursive: true, force: true });
  return {
    passed,
    text,
    verdicts,
    operations: workload?.history.length ?? 0,
    injected: nemesis.injected,
    dir: passed ? null : dir,
  };
}

/** The index of the server that says it leads, or null; a paused or dead server does not answer. */
async function findLeader(endpoints: readonly string[]): Promise<number | null> {
  const answers = await Promise.all(
    endpoints.map(async (e, i) => {
      const r = await request(`${e}/v1/agent/self`, { method: "GET" }, 1_000);
      if (r.kind !== "ok" || r.status !== 200) return null;
      const self = JSON.parse(r.body) as { Stats?: { consul?: { leader?: string } } };
      return self.Stats?.consul?.leader === "true" ? i : null;
    }),
  );
  return answers.find((a) => a !== null) ?? null;
}

/** Samples who leads every second until `over`, recording each change (the report counts them). */
async function watchLeaders(
  leaderOf: () => Promise<number | null>,
  over: () => boolean,
  seen: number[],
): Promise<void> {
  while (!over()) {
    const l = await leaderOf();
    if (l !== null && seen[seen.length - 1] !== l) seen.push(l);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function waitLeader(leaderOf: () => Promise<number | null>, ms: number): Promise<number | null> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const l = await leaderOf();
    if (l !== null) return l;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

/** A consistent read of every key, retried (bounded) until each succeeds; they join the history as client -1. */
async function readAll(workload: Workload, endpoints: readonly string[]): Promise<Operation[]> {
  const out: Operation[] = [];
  for (const key of workload.keys()) {
    let done = false;
    for (let attempt = 0; attempt < 40 && !done; attempt++) {
      const before = workload.history.length;
      const seen = await workload.read(-1, endpoints[attempt % endpoints.length]!, key, "consistent");
      if (seen !== undefined) {
        out.push(...workload.history.splice(before));
        done = true;
      } else await new Promise((r) => setTimeout(r, 250));
    }
    if (!done) throw new Error(`could not read ${key} consistently after healing`);
  }
  return out;
}

function report(
  o: TortureOptions,
  workload: Workload | null,
  nemesis: NemesisLog,
  leaders: readonly number[],
  v: Verdicts | null,
  problem: string | null,
  passed: boolean,
  dir: string,
  archiver: Archiver | null,
  restoreProblems: readonly string[],
  ttl: TtlLockVerdict | null,
  divergence: string | null,
): string {
  const lines: string[] = [];
  lines.push(
    `torture ${passed ? "PASSED" : "FAILED"}: ${o.servers} servers, ${o.minutes} min, faults ${o.faults.join(",") || "none"}, seed ${o.seed}${o.bug === undefined ? "" : `, deliberate bug ${o.bug}`}`,
  );
  const counts = workload?.counts ?? {};
  const ops = Object.keys(counts)
    .sort()
    .map((k) => `${k} ${counts[k]}`)
    .join(", ");
  lines.push(`operations: ${workload?.history.length ?? 0} in the history (${ops})`);
  const inj = Object.keys(nemesis.injected)
    .sort()
    .map((k) => `${k} ${nemesis.injected[k]}`)
    .join(", ");
  lines.push(
    `faults injected: ${inj || "none"}; leaders seen in turn: ${leaders.map((l) => `s${l}`).join(" ") || "none"}`,
  );
  if (v !== null) {
    const lin = v.linearizability;
    lines.push(
      `linearizability (puts, cas, consistent and default reads, archives, lock acquire/release; per key): ${lin.outcome}${lin.outcome === "ok" ? "" : ` — ${lin.message}`}`,
    );
    if (lin.outcome === "illegal" && workload !== null) lines.push(...keyHistory(workload, lin));
    lines.push(`acknowledged writes lost: ${v.lost.length}`);
    for (const l of v.lost.slice(0, 20)) lines.push(`  lost ${l}`);
    lines.push(`stale reads of a value never written: ${v.phantomReads.length}`);
    for (const r of v.phantomReads.slice(0, 20))
      lines.push(`  ${r.mode} read of ${r.key} → ${JSON.stringify(r.value)}`);
    const saves = archiver?.counts ?? {};
    lines.push(
      `snapshots saved under faults: ${saves["save ok"] ?? 0} (failed ${saves["save failed"] ?? 0}); each read into ` +
        `the history above, restored into a scratch server and compared: ${restoreProblems.length} mismatches`,
    );
    for (const p of restoreProblems.slice(0, 20)) lines.push(`  ${p}`);
    lines.push(
      `replicas converged to the leader's state: ${divergence === null ? "yes" : `no — ${divergence}`}`,
    );
    if (ttl !== null) {
      const c = workload?.ttlLocks.counts ?? {};
      lines.push(
        `TTL-session locks: ${ttl.grants} grants (renews ok ${c["ttl renew ok"] ?? 0}, failed ${c["ttl renew failed"] ?? 0}; ` +
          `holders that hung until their session expired ${c["ttl holder hangs"] ?? 0}); ` +
          `taken from a live holder: ${ttl.violations.length}; after the holder's session could expire: ${ttl.afterExpiry}; ` +
          `of those within its lock-delay: ${ttl.insideLockDelay.length}, and near a clock jump (not judged by ` +
          `lock-delay): ${ttl.nearClockJumps}`,
      );
      for (const v of [...ttl.violations, ...ttl.insideLockDelay].slice(0, 20)) lines.push(`  ${v}`);
    }
  }
  if (problem !== null) lines.push(`run failed: ${problem}`);
  if (!passed) {
    lines.push(
      `reproduce: npm run torture -- --servers ${o.servers} --minutes ${o.minutes} --faults ${o.faults.join(",")} --seed ${o.seed}${o.bug === undefined ? "" : ` --bug ${o.bug}`}`,
    );
    lines.push("fault schedule (as played):");
    for (const l of nemesis.lines) lines.push(`  ${l}`);
    lines.push(`servers' logs and data dirs: ${dir}/s<i>.log, ${dir}/s<i>/`);
    for (let i = 0; i < o.servers; i++) {
      const log = join(dir, `s${i}.log`);
      if (!existsSync(log)) continue;
      lines.push(`--- the end of ${log}:`);
      lines.push(...readFileSync(log, "utf8").trimEnd().split("\n").slice(-LOG_TAIL_LINES));
    }
  }
  return lines.join("\n");
}

/**
 * The operations on the key a linearizability failure names, in call order, each with how it was made: those
 * up to the first operation that could not be placed (by return time, as the checker numbers them) and a few
 * after it, which is what a failure's reader needs first.
 */
function keyHistory(workload: Workload, failure: Extract<CheckResult, { outcome: "illegal" }>): string[] {
  const inPrefix = new Set(failure.longestPrefix);
  const stuckAt = Math.min(...failure.ops.filter((op) => !inPrefix.has(op)).map((op) => op.ret));
  const ops = [...failure.ops].sort((a, b) => a.call - b.call);
  let end = ops.findIndex((op) => op.call > stuckAt);
  if (end < 0) end = ops.length;
  const shown = ops.slice(Math.max(0, end - KEY_HISTORY_BEFORE), end + KEY_HISTORY_AFTER);
  const lines = [
    `the history of ${failure.key} around ${stuckAt.toFixed(0)} ms (${shown.length} of its ${ops.length} operations):`,
  ];
  for (const op of shown) {
    const ret = op.ret === Infinity ? "∞" : op.ret.toFixed(0);
    const input = "value" in op.input ? ` ${op.input.value}` : "";
    lines.push(
      `  [${op.call.toFixed(0)}, ${ret}] ms client ${op.clientId} ${workload.how.get(op) ?? op.input.kind}${input} → ${JSON.stringify(op.output)}`,
    );
  }
  return lines;
}
