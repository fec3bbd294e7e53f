/**
 * `npm run bench -- kv -keys 100000,1000000 [-total 50000] [-clients 1,16,64]`: the shape of the write cost as
 * the state grows. One cairn datacenter (3 servers), then one etcd cluster (3 members), each preloaded in steps
 * to every size in turn (TXN_PUTS keys per transaction: bulk-load.ts); at each size the 1/16/64-client put
 * loads of `npm run bench -- kv` run, overwriting preloaded keys so that the state holds exactly that many keys
 * while it is measured. The table has one row per size and client count: both engines' puts/s and p99, the
 * ratios, and each engine's change from the smallest size, so a reader sees how the cost grows, not one point.
 * Not a test: figures, never assertions.
 */
import { rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { flag, parseFlags } from "../src/util/flags.js";
import { cairnTxnBulk, etcdTxnBulk, KEY_PREFIX, loadKeys, VALUE_BYTES } from "./bulk-load.js";
import { startCairnCluster } from "./cairn.js";
import { guarded, tracked } from "./children.js";
import { kvPutCairn, kvPutEtcd, type PutWorkload, startEtcdCluster } from "./etcd.js";
import { type PutLoadOptions, type PutLoadResult, runPutLoad } from "./load.js";

/** A single client is latency-bound: it writes at most this many keys per row. */
const SINGLE_CLIENT_PUTS_MAX = 5_000;
/** A stride coprime with every size that is a product of 2s and 5s: consecutive writes hit different leaves. */
const STRIDE = 7919;

/** One measured row: an engine's puts at one size and client count, and the load average when it started. */
interface Row {
  readonly result: PutLoadResult;
  readonly load: number;
}

interface Engine {
  readonly name: string;
  start(dir: string): Promise<{ endpoints: readonly string[]; stop: () => Promise<void> }>;
  bulk(endpoints: readonly string[]): (first: number, count: number) => PutLoadOptions;
  put(endpoints: readonly string[], w: PutWorkload): PutLoadOptions;
}

const ENGINES: readonly Engine[] = [
  {
    name: "cairn",
    start: (dir) => startCairnCluster(dir),
    bulk: cairnTxnBulk,
    put: kvPutCairn,
  },
  {
    name: "etcd",
    start: (dir) => startEtcdCluster(dir),
    bulk: etcdTxnBulk,
    put: kvPutEtcd,
  },
];

/**
 * The put load of `w` rewritten to overwrite the preloaded keys [0, size): request i writes key
 * (i × STRIDE + offset) mod size, with the engine's own URL and body shape.
 */
function overwrites(
  engine: Engine,
  endpoints: readonly string[],
  w: PutWorkload,
  size: number,
  offset: number,
) {
  const load = engine.put(endpoints, { ...w, keyPrefix: KEY_PREFIX });
  // Both engines name the key in request i through `${keyPrefix}${i}`; remapping i keeps their request shape.
  const key = (i: number) => (i * STRIDE + offset) % size;
  return { ...load, url: (i: number) => load.url(key(i)), body: (i: number) => load.body(key(i)) };
}

/** Preloads and measures one engine at every size, in increasing order; rows keyed `${size}/${clients}`. */
async function measure(
  engine: Engine,
  dir: string,
  sizes: readonly number[],
  clientCounts: readonly number[],
  total: number,
): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  const started = await engine.start(join(dir, engine.name));
  const stop = tracked(started.stop);
  try {
    let loaded = 0;
    for (const size of sizes) {
      const add = await loadKeys(
        engine.name,
        (first, count) => engine.bulk(started.endpoints)(loaded + first, count),
        size - loaded,
        progress,
      );
      progress(`${engine.name}: preloaded to ${size} keys in ${(add.ms / 1000).toFixed(1)} s`);
      loaded = size;
      for (const clients of clientCounts) {
        const w = {
          total: clients === 1 ? Math.min(total, SINGLE_CLIENT_PUTS_MAX) : total,
          clients,
          valueBytes: VALUE_BYTES,
          keyPrefix: KEY_PREFIX,
        };
        const load = loadavg()[0] ?? 0;
        const result = await runPutLoad(overwrites(engine, started.endpoints, w, size, clients));
        progress(`${engine.name} ${size} keys ${clients} clients: ${result.writesPerSec.toFixed(0)} puts/s`);
        rows.set(`${size}/${clients}`, { result, load });
      }
    }
  } finally {
    await stop();
  }
  return rows;
}

function progress(line: string): void {
  process.stderr.write(`bench kv shape: ${line}\n`);
}

const pct = (now: number, base: number) => {
  const d = (100 * (now - base)) / base;
  return `${d >= 0 ? "+" : ""}${d.toFixed(0)}%`;
};

/** The table: one row per size and client count, cairn beside etcd, and each one's change from the first size. */
export function shapeTable(
  sizes: readonly number[],
  clientCounts: readonly number[],
  cairn: ReadonlyMap<string, Row>,
  etcd: ReadonlyMap<string, Row>,
): string {
  const cols = [
    ["keys", 9],
    ["clients", 7],
    ["cairn/s", 8],
    ["etcd/s", 8],
    ["ratio", 6],
    ["c p99", 8],
    ["e p99", 8],
    ["p99 x", 6],
    ["cairn d/s", 9],
    ["etcd d/s", 9],
    ["c d p99", 8],
    ["e d p99", 8],
    ["load c/e", 9],
  ] as const;
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(cols[i]?.[1] ?? 0)).join("  ");
  const out = [line(cols.map(([h]) => h))];
  for (const size of sizes) {
    for (const clients of clientCounts) {
      const c = cairn.get(`${size}/${clients}`);
      const e = etcd.get(`${size}/${clients}`);
      const c0 = cairn.get(`${sizes[0]}/${clients}`);
      const e0 = etcd.get(`${sizes[0]}/${clients}`);
      if (c === undefined || e === undefined || c0 === undefined || e0 === undefined) continue;
      out.push(
        line([
          String(size),
          String(clients),
          c.result.writesPerSec.toFixed(0),
          e.result.writesPerSec.toFixed(0),
          `${(c.result.writesPerSec / e.result.writesPerSec).toFixed(2)}x`,
          c.result.p99Ms.toFixed(1),
          e.result.p99Ms.toFixed(1),
          `${(c.result.p99Ms / e.result.p99Ms).toFixed(2)}x`,
          pct(c.result.writesPerSec, c0.result.writesPerSec),
          pct(e.result.writesPerSec, e0.result.writesPerSec),
          pct(c.result.p99Ms, c0.result.p99Ms),
          pct(e.result.p99Ms, e0.result.p99Ms),
          `${c.load.toFixed(1)}/${e.load.toFixed(1)}`,
        ]),
      );
    }
  }
  return `${out.join("\n")}\n`;
}

export async function kvShape(argv: readonly string[]): Promise<void> {
  const { values } = parseFlags(
    {
      keys: flag.string("100000,1000000", "comma-separated state sizes, measured in increasing order"),
      total: flag.int(50_000, "puts per row (1 client: at most 5000)"),
      clients: flag.string("1,16,64", "comma-separated client counts"),
    },
    argv,
  );
  const sizes = values.keys.split(",").map(Number);
  if (sizes.some((n, i) => !(Number.isInteger(n) && n > 0 && n > (sizes[i - 1] ?? 0)))) {
    throw new RangeError(`-keys wants increasing positive integers, not ${values.keys}`);
  }
  const clientCounts = values.clients.split(",").map(Number);
  const dir = join(tmpdir(), `cairn-bench-shape-${process.pid}`);
  const [cairn, etcd] = await guarded(
    () => rmSync(dir, { recursive: true, force: true }),
    async () => {
      const rows: Map<string, Row>[] = [];
      for (const engine of ENGINES) rows.push(await measure(engine, dir, sizes, clientCounts, values.total));
      return rows;
    },
  );
  process.stdout.write(
    `\nput cost by state size: ${values.total} overwrites of preloaded keys per row (1 client: ` +
      `${Math.min(values.total, SINGLE_CLIENT_PUTS_MAX)}), ${VALUE_BYTES} B random values, 3 servers/members, ` +
      `${availableParallelism()} cores\n` +
      "ratio = cairn/etcd (puts/s: higher is better; p99: lower is better); d = change from the smallest size\n",
  );
  process.stdout.write(shapeTable(sizes, clientCounts, cairn ?? new Map(), etcd ?? new Map()));
}
