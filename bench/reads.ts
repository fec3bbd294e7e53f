/**
 * `npm run bench -- reads [-total 100000] [-keys 10000] [-clients 64]`: GETs of preloaded keys against a 3-server
 * cairn datacenter in each of Consul's consistency modes (default: the leader's lease; `?consistent`: a ReadIndex
 * round; `?stale`: any server's local state), then etcd's linearizable and serializable range reads (v3 JSON
 * gateway) of the same keys in the same run, one engine at a time, requests spread over the three servers. Prints
 * reads/s, p50/p99, the ratios against issue 14's targets, the load average and the machine's cores. Not a test:
 * figures, never assertions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { flag, parseFlags } from "../src/util/flags.js";
import { startCairnCluster } from "./cairn.js";
import {
  type CairnReadMode,
  formatResult,
  kvGetCairn,
  kvPutCairn,
  kvPutEtcd,
  kvRangeEtcd,
  type ReadWorkload,
  resultHeader,
  startEtcdCluster,
} from "./etcd.js";
import { type PutLoadOptions, type PutLoadResult, runPutLoad } from "./load.js";

const KEY_PREFIX = "r/k";
const VALUE_BYTES = 256;
/** Reads of each mode before the measured ones: JIT, connection set-up and caches warm, not counted. */
const WARM_UP_READS = 5_000;
const LABEL_WIDTH = 17;
const CAIRN_MODES: readonly CairnReadMode[] = ["default", "consistent", "stale"];

/** Issue 14's read targets: cairn's mode against etcd's read of the same guarantee. */
const TARGETS = [
  { cairn: "default", etcd: "linearizable", rate: 3, p99: 0.5 },
  { cairn: "consistent", etcd: "linearizable", rate: 3, p99: 0.5 },
  { cairn: "stale", etcd: "serializable", rate: 3, p99: undefined },
] as const;

function progress(line: string): void {
  process.stderr.write(`bench reads: ${line}\n`);
}

/** Warms up, then measures, one read load. */
async function measure(make: (w: ReadWorkload) => PutLoadOptions, w: ReadWorkload) {
  await runPutLoad(make({ ...w, total: Math.min(w.total, WARM_UP_READS) }));
  return runPutLoad(make(w));
}

export async function reads(argv: readonly string[]): Promise<void> {
  const { values } = parseFlags(
    {
      total: flag.int(100_000, "measured reads per mode"),
      keys: flag.int(10_000, "keys preloaded (256 B random values) and read"),
      clients: flag.int(64, "concurrent keep-alive clients, spread over the three servers"),
    },
    argv,
  );
  const w: ReadWorkload = {
    total: values.total,
    clients: values.clients,
    keys: values.keys,
    keyPrefix: KEY_PREFIX,
  };
  const preload = { total: values.keys, clients: 64, valueBytes: VALUE_BYTES, keyPrefix: KEY_PREFIX };
  const dir = mkdtempSync(join(tmpdir(), "cairn-bench-reads-"));
  const results = new Map<string, PutLoadResult>();
  const loads: string[] = [];
  const noteLoad = (when: string) => loads.push(`${when} ${(loadavg()[0] ?? 0).toFixed(2)}`);
  try {
    noteLoad("start");
    const cairn = await startCairnCluster(join(dir, "cairn"));
    try {
      await runPutLoad(kvPutCairn(cairn.endpoints, preload));
      progress(`cairn: ${values.keys} keys loaded`);
      for (const mode of CAIRN_MODES) {
        results.set(`cairn ${mode}`, await measure((x) => kvGetCairn(cairn.endpoints, x, mode), w));
        progress(`cairn ${mode}: done`);
      }
    } finally {
      await cairn.stop();
    }
    noteLoad("after cairn");
    const etcd = await startEtcdCluster(join(dir, "etcd"));
    try {
      await runPutLoad(kvPutEtcd(etcd.endpoints, preload));
      progress(`etcd: ${values.keys} keys loaded`);
      for (const serializable of [false, true]) {
        const name = `etcd ${serializable ? "serializable" : "linearizable"}`;
        results.set(name, await measure((x) => kvRangeEtcd(etcd.endpoints, x, serializable), w));
        progress(`${name}: done`);
      }
      progress(etcd.version);
    } finally {
      await etcd.stop();
    }
    noteLoad("after etcd");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printReport(values, results, loads);
}

function printReport(
  v: { readonly total: number; readonly keys: number; readonly clients: number },
  results: ReadonlyMap<string, PutLoadResult>,
  loads: readonly string[],
): void {
  const out: string[] = [
    `${v.total} reads per mode of ${v.keys} keys x ${VALUE_BYTES} B, ${v.clients} clients over 3 servers each`,
    `${availableParallelism()} cores; load average (1 min): ${loads.join(", ")}`,
    resultHeader("reads/s", LABEL_WIDTH),
  ];
  for (const [name, r] of results) out.push(formatResult(name, v.clients, r, LABEL_WIDTH));
  out.push("", "ratios (cairn / etcd; target: reads/s at least, p99 at most)");
  for (const t of TARGETS) {
    const c = results.get(`cairn ${t.cairn}`);
    const e = results.get(`etcd ${t.etcd}`);
    if (c === undefined || e === undefined) continue;
    const rate = c.writesPerSec / e.writesPerSec;
    const p99 = c.p99Ms / e.p99Ms;
    const rateNote = `reads/s ${rate.toFixed(2)}x (>= ${t.rate}x: ${rate >= t.rate ? "met" : "NOT met"})`;
    const p99Note =
      t.p99 === undefined
        ? `p99 ${p99.toFixed(2)}x`
        : `p99 ${p99.toFixed(2)}x (<= ${t.p99}x: ${p99 <= t.p99 ? "met" : "NOT met"})`;
    out.push(
      `${`${t.cairn} / ${t.etcd}`.padEnd(27)}  ${rateNote}  p50 ${(c.p50Ms / e.p50Ms).toFixed(2)}x  ${p99Note}`,
    );
  }
  process.stdout.write(`${out.join("\n")}\n`);
}
