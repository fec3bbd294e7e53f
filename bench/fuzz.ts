import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import {
  buildMutant,
  checkMutant,
  type Feed,
  generateSeed,
  type Layer,
  type Mutant,
  type Mutation,
  prepareSeed,
  type SeedArchive,
  type SumsOp,
  type TarField,
} from "../src/snapshot/fuzz.js";
import { fixture, skipUnlessFixtures } from "../src/snapshot/testutil.js";
import { errorText } from "../src/util/errors.js";
import { startCairnCluster } from "./cairn.js";

/**
 * `npm run fuzz -- snapshot --runs N [--seed S] [--live K] [--tmp DIR]`: mutants of valid archives through the
 * archive reader (src/snapshot/fuzz.ts), then, with --live, K of the refused ones to PUT /v1/snapshot of a
 * real 3-server datacenter, which must answer 500 (as Consul does: the restore RPC's error) and change nothing. Prints runs, outcomes and wall time.
 */

/*
 * The fast-check side lives here rather than in src/snapshot/fuzz.ts: src/snapshot/index.test.ts keeps
 * src/snapshot's non-test files free of packages beyond node:* and @msgpack/msgpack. The mutators and the
 * per-read contract (checkMutant) stay beside the reader; src/snapshot/fuzz.test.ts imports the driver here.
 */

const flipArb = fc.record({ region: fc.nat(), offset: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) });
const layerArb = fc.constantFrom<Layer>("gzip", "tar");
const EXTRA_NAMES = ["nope", "./meta.json", "meta.json.bak", "state.bin/", "SHA256SUMS ", "a/b/c", "x"];

/** Every kind of mutation, weighted towards the ones with the most distinct outcomes. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("truncate"),
      layer: layerArb,
      region: fc.nat(),
      offset: fc.nat(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("flip"),
      layer: layerArb,
      flips: fc.array(flipArb, { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("extra-entry"),
      name: fc.constantFrom(...EXTRA_NAMES),
      size: fc.integer({ min: 0, max: 1500 }),
      at: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("missing-entry"), which: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reorder-entries"), perm: fc.nat(4) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("duplicate-entry"), which: fc.nat(2), at: fc.nat(3) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("sums"),
      op: fc.constantFrom<SumsOp>("digit", "drop-line", "unknown-name", "swap-names", "empty", "uppercase"),
      line: fc.nat(1),
      pos: fc.nat(63),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("no-trailer"), drop: fc.integer({ min: 1, max: 8 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("trailing"),
      layer: layerArb,
      zero: fc.boolean(),
      length: fc.integer({ min: 1, max: 2048 }),
      byte: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("huge-meta"), delta: fc.integer({ min: -2, max: 2 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("unknown-record"),
      type: fc.oneof(
        fc.integer({ min: 45, max: 63 }),
        fc.integer({ min: 64, max: 127 }),
        fc.integer({ min: 128, max: 255 }),
      ),
      at: fc.nat(),
      garbage: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("tar-field"),
      entry: fc.nat(2),
      field: fc.constantFrom<TarField>(
        "size",
        "size-base256",
        "typeflag",
        "name",
        "prefix",
        "magic",
        "checksum",
      ),
      value: fc.oneof(fc.nat(16), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("empty") }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("not-gzip"),
      variant: fc.constantFrom<"random" | "plain-tar" | "zip">("random", "plain-tar", "zip"),
      length: fc.integer({ min: 1, max: 4096 }),
    }),
  },
);

export const feedArb: fc.Arbitrary<Feed> = fc.record({
  size: fc.constantFrom(1, 7, 512, 4096, 65_536),
  cuts: fc.array(fc.oneof(fc.nat(16), fc.nat()), { maxLength: 4 }),
});

export interface FuzzOptions {
  readonly runs: number;
  /** fast-check's seed; a failure prints the one to replay. Default: fast-check picks one. */
  readonly seed?: number;
  /** An empty directory the reader's temp files go in; it must stay empty between reads. */
  readonly tmpDir: string;
  /** A read that takes longer fails the property as a hang; default 10 s. */
  readonly readTimeoutMs?: number;
  /** Called with each refused mutant (for the live check), with its error code. */
  readonly onRejected?: (mutant: Mutant, code: string) => void;
}

export interface FuzzStats {
  /** Reads done, shrinking included. */
  runs: number;
  accepted: number;
  /** Accepted mutants per mutation kind (harmless ones, such as a flip in the gzip mtime). */
  readonly acceptedByKind: Map<string, number>;
  readonly rejectedByCode: Map<string, number>;
  wallMs: number;
}

const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1);
};

/**
 * Runs `runs` mutants through the reader as one fast-check property. Throws fast-check's report (seed, shrunk
 * counterexample, the breach) on the first failure; returns the tallies otherwise.
 */
export async function fuzzReader(seeds: readonly SeedArchive[], opts: FuzzOptions): Promise<FuzzStats> {
  const stats: FuzzStats = {
    runs: 0,
    accepted: 0,
    acceptedByKind: new Map(),
    rejectedByCode: new Map(),
    wallMs: 0,
  };
  const t0 = performance.now();
  const timeoutMs = opts.readTimeoutMs ?? 10_000;
  const arb = fc.tuple(fc.nat(seeds.length - 1), mutationArb, feedArb);
  const property = fc.asyncProperty(arb, async ([s, m, feed]) => {
    const seed = seeds[s] as SeedArchive;
    const mutant = buildMutant(seed, m);
    const outcome = await checkMutant(mutant, feed, opts.tmpDir, timeoutMs);
    stats.runs++;
    if (outcome.accepted) {
      stats.accepted++;
      bump(stats.acceptedByKind, m.kind);
    } else {
      bump(stats.rejectedByCode, outcome.code);
      opts.onRejected?.(mutant, outcome.code);
    }
  });
  const params = {
    numRuns: opts.runs,
    includeErrorInReport: true,
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
  };
  try {
    await fc.assert(property, params);
  } finally {
    stats.wallMs = performance.now() - t0;
  }
  return stats;
}

/** Consul's archives as seeds; the last two are optional fixtures (test/fixtures/consul/README.md). */
export const FIXTURE_ARCHIVES = [
  "inspect/backup.snap",
  "inspect/backupWithKV.snap",
  "decode/all.snap",
  "realworld/khayalghosh-data-backup.snap",
];

/**
 * Consul's archives that are present (backup.snap first) plus two written by cairn from random KV records (5
 * and 150 of them). An absent optional archive is left out; `missingSeeds` says which and why.
 */
export async function loadSeeds(tmpDir: string): Promise<SeedArchive[]> {
  const seeds: SeedArchive[] = [];
  for (const name of FIXTURE_ARCHIVES) {
    if (skipUnlessFixtures(name) !== false) continue;
    seeds.push(await prepareSeed(name, readFileSync(fixture(name))));
  }
  seeds.push(await generateSeed(1, 5, tmpDir), await generateSeed(2, 150, tmpDir));
  return seeds;
}

/** Why each of FIXTURE_ARCHIVES that `loadSeeds` leaves out is absent. */
export function missingSeeds(): string[] {
  return FIXTURE_ARCHIVES.flatMap((name) => {
    const why = skipUnlessFixtures(name);
    return why === false ? [] : [why];
  });
}

/**
 * Keeps up to `k` refused mutants, spread over error codes: up to k per code as they come, then taken
 * round-robin across codes, so a live sample is not all `snapshot_decompress`.
 */
export class RejectedSample {
  private readonly byCode = new Map<string, Mutant[]>();
  constructor(private readonly k: number) {}

  add(mutant: Mutant, code: string): void {
    const list = this.byCode.get(code) ?? [];
    if (list.length < this.k) list.push(mutant);
    this.byCode.set(code, list);
  }

  take(): Mutant[] {
    const out: Mutant[] = [];
    const lists = [...this.byCode.values()];
    for (let i = 0; out.length < this.k && lists.some((l) => i < l.length); i++) {
      for (const l of lists) {
        const m = l[i];
        if (m !== undefined && out.length < this.k) out.push(m);
      }
    }
    return out;
  }
}

/** The whole KV store as one server returns it (consistent read), and the X-Consul-Index that came with it. */
async function kvState(endpoint: string): Promise<{ body: string; index: string }> {
  const r = await fetch(`${endpoint}/v1/kv/?recurse&consistent`, { signal: AbortSignal.timeout(15_000) });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`GET ${endpoint}/v1/kv/?recurse: ${r.status} ${body}`);
  return { body, index: r.headers.get("x-consul-index") ?? "" };
}

export interface LiveResult {
  /** HTTP status per mutant sent, in order. */
  readonly statuses: readonly number[];
  readonly index: string;
}

/**
 * Sends each mutant to PUT /v1/snapshot, round-robin over the servers; each must be refused with 500 and the
 * reader's text (Consul's code for a bad archive; a leaderless 500 does not count), and
 * afterwards every server must return the KV store and X-Consul-Index it returned before. Throws on a breach.
 */
export async function liveCheck(
  endpoints: readonly string[],
  mutants: readonly Mutant[],
): Promise<LiveResult> {
  const before = await Promise.all(endpoints.map(kvState));
  const statuses: number[] = [];
  for (const [i, m] of mutants.entries()) {
    const endpoint = endpoints[i % endpoints.length] as string;
    const r = await fetch(`${endpoint}/v1/snapshot`, {
      method: "PUT",
      body: m.bytes,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await r.text();
    statuses.push(r.status);
    if (r.status !== 500)
      throw new Error(`PUT /v1/snapshot of mutant "${m.label}": ${r.status} ${text}, want 500`);
    if (text.trim() === "" || text === "No cluster leader")
      throw new Error(`PUT /v1/snapshot of mutant "${m.label}": 500 without the reader's message: ${text}`);
  }
  const after = await Promise.all(endpoints.map(kvState));
  for (const [i, a] of after.entries()) {
    const b = before[i];
    if (a.body !== b?.body) throw new Error(`KV of ${endpoints[i]} changed after refused restores`);
    if (a.index !== b.index)
      throw new Error(`X-Consul-Index of ${endpoints[i]} went ${b.index} -> ${a.index}`);
  }
  return { statuses, index: after[0]?.index ?? "" };
}

/** Puts `n` keys through `endpoint`, so a wrongly applied restore would show. */
export async function putKeys(endpoint: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${endpoint}/v1/kv/fuzz/live/${i}`, {
      method: "PUT",
      body: `value-${i}`,
      signal: AbortSignal.timeout(10_000),
    });
    if (r.status !== 200) throw new Error(`PUT /v1/kv/fuzz/live/${i}: ${r.status} ${await r.text()}`);
  }
}

function tally(m: ReadonlyMap<string, number>): string {
  const rows = [...m].sort((a, b) => b[1] - a[1]);
  return rows.map(([k, n]) => `${k} ${n}`).join(", ");
}

export function formatStats(stats: FuzzStats, seed: number): string {
  const rejected = [...stats.rejectedByCode.values()].reduce((a, b) => a + b, 0);
  const secs = stats.wallMs / 1000;
  return [
    `snapshot fuzz: ${stats.runs} runs in ${secs.toFixed(1)} s (${(stats.runs / secs).toFixed(1)} runs/s), seed ${seed}`,
    `accepted ${stats.accepted}: ${tally(stats.acceptedByKind)}`,
    `rejected ${rejected}: ${tally(stats.rejectedByCode)}`,
  ].join("\n");
}

interface Args {
  readonly runs: number;
  readonly seed: number;
  readonly live: number;
  readonly tmp: string;
}

function parseArgs(argv: readonly string[]): Args {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (flag: string, dflt: number): number => {
    const v = Number(value(flag) ?? dflt);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`parse ${flag}: "${value(flag)}" is not a count`);
    return v;
  };
  // tmpfs when there is one: the reader fsyncs state.bin, which on a disk would be most of a run's time.
  const tmp = value("--tmp") ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
  return {
    runs: int("--runs", 1000),
    seed: int("--seed", Date.now() % 2 ** 31),
    live: int("--live", 0),
    tmp,
  };
}

async function snapshot(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  const dir = await mkdtemp(join(args.tmp, "cairn-fuzz-"));
  try {
    const seeds = await loadSeeds(dir);
    for (const why of missingSeeds()) process.stderr.write(`seed left out: ${why}\n`);
    const sample = new RejectedSample(args.live);
    const stats = await fuzzReader(seeds, {
      runs: args.runs,
      seed: args.seed,
      tmpDir: dir,
      onRejected: (m, code) => sample.add(m, code),
    });
    process.stdout.write(`${formatStats(stats, args.seed)}\n`);
    if (args.live > 0) await live(sample.take(), join(dir, "cluster"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function live(mutants: readonly Mutant[], dir: string): Promise<void> {
  const t0 = performance.now();
  const cluster = await startCairnCluster(dir);
  try {
    await putKeys(cluster.endpoints[0] as string, 20);
    const result = await liveCheck(cluster.endpoints, mutants);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    process.stdout.write(
      `live: ${mutants.length} refused mutants sent to PUT /v1/snapshot of 3 servers: all 500; ` +
        `KV and X-Consul-Index (${result.index}) unchanged on every server; ${secs} s\n`,
    );
  } finally {
    await cluster.stop();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const [what, ...rest] = process.argv.slice(2);
  if (what === "snapshot") {
    try {
      await snapshot(rest);
    } catch (err) {
      process.stderr.write(`${errorText(err)}\n`);
      process.exitCode = 1;
    }
  } else {
    process.stderr.write("usage: npm run fuzz -- snapshot --runs N [--seed S] [--live K] [--tmp DIR]\n");
    process.exitCode = 2;
  }
}
