/**
 * The etcd side of the write benchmark: a local three-member etcd cluster (Debian's etcd-server, installed with
 * apt when missing) and the request shape of its v3 JSON gateway, for runPutLoad. cairn's side is the same load
 * against `PUT /v1/kv/<key>` (kvPutCairn), so `bench/main.ts kv` can run both engines side by side.
 *
 * Run alone: `node dist/bench/etcd.js [-total 20000] [-clients 1,16,64] [-value-bytes 256] [-dir DIR]`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { flag, parseFlags } from "../src/util/flags.js";
import { type PutLoadOptions, type PutLoadResult, runPutLoad } from "./load.js";

export interface EtcdCluster {
  /** Client URLs, `http://127.0.0.1:PORT`, one per member. */
  readonly endpoints: readonly string[];
  readonly version: string;
  /** SIGTERM to every member, SIGKILL after STOP_WAIT_MS; leaves the data dirs for inspection. */
  stop(): Promise<void>;
}

const MEMBERS = 3;
const HEALTH_WAIT_MS = 30_000;
const STOP_WAIT_MS = 5_000;
const LOG_TAIL_BYTES = 2000;

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, name);
    if (dir !== "" && existsSync(p)) return p;
  }
  return null;
}

/** The etcd binary; installs Debian's etcd-server and etcd-client first when it is missing (root only). */
export function ensureEtcd(): string {
  const found = onPath("etcd");
  if (found !== null) return found;
  if (process.getuid?.() !== 0) {
    throw new Error("etcd is not installed: run `apt-get install -y etcd-server etcd-client` as root");
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "etcd-server", "etcd-client"]]) {
    console.error(`bench: apt-get ${args.join(" ")}`);
    const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed with ${r.status ?? r.signal}`);
  }
  const installed = onPath("etcd");
  if (installed === null) throw new Error("etcd-server installed, but no etcd on PATH");
  return installed;
}

/**
 * `count` distinct free TCP ports on 127.0.0.1. All listeners stay open until all are chosen, so no port is
 * handed out twice; another process could still take one before etcd binds it (then startup fails loudly).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === "string") throw new Error("listen(0) gave no TCP port");
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Starts a fresh three-member cluster under `dir` (member data dirs are wiped first) and waits for health. */
export async function startEtcdCluster(dir: string): Promise<EtcdCluster> {
  const etcd = ensureEtcd();
  const version = spawnSync(etcd, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0] ?? "etcd";
  const ports = await freePorts(2 * MEMBERS);
  const members = Array.from({ length: MEMBERS }, (_, m) => ({
    name: `m${m + 1}`,
    client: `http://127.0.0.1:${ports[2 * m]}`,
    peer: `http://127.0.0.1:${ports[2 * m + 1]}`,
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
  mkdirSync(dir, { recursive: true });
  const procs: ChildProcess[] = [];
  for (const m of members) {
    const data = join(dir, m.name);
    rmSync(data, { recursive: true, force: true });
    const log = openSync(join(dir, `${m.name}.log`), "w");
    const args = [
      ...["--name", m.name, "--data-dir", data],
      ...["--listen-client-urls", m.client, "--advertise-client-urls", m.client],
      ...["--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer],
      ...["--initial-cluster", initialCluster, "--initial-cluster-state", "new"],
      ...["--initial-cluster-token", `cairn-bench-${ports[0]}`],
    ];
    procs.push(spawn(etcd, args, { stdio: ["ignore", log, log] }));
  }
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.client),
    version,
    stop: () => stopAll(procs),
  };
  try {
    await waitHealthy(cluster.endpoints, procs, dir);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

async function waitHealthy(
  endpoints: readonly string[],
  procs: readonly ChildProcess[],
  dir: string,
): Promise<void> {
  const deadline = Date.now() + HEALTH_WAIT_MS;
  for (const [i, url] of endpoints.entries()) {
    for (;;) {
      const proc = procs[i];
      if (proc !== undefined && proc.exitCode !== null) {
        throw new Error(`etcd member m${i + 1} exited with ${proc.exitCode}:\n${logTail(dir, i)}`);
      }
      if (await healthy(url)) break;
      if (Date.now() > deadline) {
        throw new Error(`etcd member m${i + 1} not healthy after ${HEALTH_WAIT_MS} ms:\n${logTail(dir, i)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && body.health === "true";
  } catch {
    return false; // not listening yet, or no quorum yet
  }
}

function logTail(dir: string, i: number): string {
  const text = readFileSync(join(dir, `m${i + 1}.log`), "utf8");
  return text.slice(-LOG_TAIL_BYTES);
}

async function stopAll(procs: readonly ChildProcess[]): Promise<void> {
  const exited = (p: ChildProcess) =>
    p.exitCode !== null || p.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => p.once("exit", () => r()));
  for (const p of procs) p.kill("SIGTERM");
  const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), STOP_WAIT_MS).unref());
  if ((await Promise.race([Promise.all(procs.map(exited)), timer])) === "timeout") {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map(exited));
  }
}

/** What every engine's put load shares: `total` distinct keys, random values of `valueBytes`. */
export interface PutWorkload {
  readonly total: number;
  readonly clients: number;
  readonly valueBytes: number;
  /** Keeps runs apart, so a later run writes new keys and not overwrites (etcd's benchmark does the same). */
  readonly keyPrefix: string;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

/** etcd v3 JSON gateway: POST /v3/kv/put {key, value} in base64; requests round-robin over the members. */
export function kvPutEtcd(endpoints: readonly string[], w: PutWorkload): PutLoadOptions {
  return gatewayLoad(endpoints, w, "/v3/kv/put", (i) =>
    JSON.stringify({ key: b64(`${w.keyPrefix}${i}`), value: b64(randomBytes(w.valueBytes)) }),
  );
}

/** A load of JSON POSTs to etcd's gateway at `path`, round-robin over the members. */
function gatewayLoad(
  endpoints: readonly string[],
  w: { readonly total: number; readonly clients: number },
  path: string,
  body: (i: number) => string,
): PutLoadOptions {
  return {
    method: "POST",
    clients: w.clients,
    total: w.total,
    headers: { "content-type": "application/json" },
    url: (i) => `${endpoints[i % endpoints.length]}${path}`,
    body,
  };
}

/** cairn (Consul API): PUT /v1/kv/<key> with the raw value; requests round-robin over the servers. */
export function kvPutCairn(endpoints: readonly string[], w: PutWorkload): PutLoadOptions {
  return {
    method: "PUT",
    clients: w.clients,
    total: w.total,
    url: (i) => `${endpoints[i % endpoints.length]}/v1/kv/${w.keyPrefix}${i}`,
    body: () => randomBytes(w.valueBytes),
  };
}

/** What every engine's read load shares: `total` GETs of the keys [0, keys) that a put load wrote. */
export interface ReadWorkload {
  readonly total: number;
  readonly clients: number;
  /** The preloaded keys are `${keyPrefix}0` … `${keyPrefix}${keys - 1}`. */
  readonly keys: number;
  readonly keyPrefix: string;
}

/** Read i's key: a stride through the keys, so consecutive reads of one client hit different tree paths. */
const readKey = (w: ReadWorkload, i: number): string => `${w.keyPrefix}${(i * 7919) % w.keys}`;

/** cairn's read consistency modes (Consul's): the default (leader lease), `?consistent`, `?stale`. */
export type CairnReadMode = "default" | "consistent" | "stale";

/** cairn: GET /v1/kv/<key> in `mode`; requests round-robin over the servers. A miss is a 404, a LoadError. */
export function kvGetCairn(
  endpoints: readonly string[],
  w: ReadWorkload,
  mode: CairnReadMode,
): PutLoadOptions {
  const query = mode === "default" ? "" : `?${mode}`;
  return {
    method: "GET",
    clients: w.clients,
    total: w.total,
    url: (i) => `${endpoints[i % endpoints.length]}/v1/kv/${readKey(w, i)}${query}`,
    body: () => "",
  };
}

/**
 * etcd v3 JSON gateway: POST /v3/kv/range {key}, linearizable (etcd's default: a ReadIndex round) or
 * `serializable` (the member's local state, as cairn's ?stale); round-robin over the members. A miss is a 200
 * without `kvs`, refused by the check.
 */
export function kvRangeEtcd(
  endpoints: readonly string[],
  w: ReadWorkload,
  serializable: boolean,
): PutLoadOptions {
  return {
    ...gatewayLoad(endpoints, w, "/v3/kv/range", (i) =>
      JSON.stringify({ key: b64(readKey(w, i)), serializable }),
    ),
    check: (body) => (body.includes('"kvs"') ? undefined : "found no key"),
  };
}

/** One row of a load's figures under resultHeader(): `label` (engine, mode) padded to `width`. */
export function formatResult(label: string, clients: number, r: PutLoadResult, width = 11): string {
  const row = [label.padEnd(width), String(clients).padStart(7), r.writesPerSec.toFixed(0).padStart(9)];
  row.push(...[r.p50Ms, r.p99Ms, r.maxMs].map((ms) => ms.toFixed(2).padStart(8)));
  return row.join("  ");
}

/** The header of formatResult's rows; `rate` names the requests (puts/s, reads/s). */
export function resultHeader(rate = "puts/s", width = 11): string {
  return [
    "engine".padEnd(width),
    "clients",
    rate.padStart(9),
    ...["p50 ms", "p99 ms", "max ms"].map((h) => h.padStart(8)),
  ].join("  ");
}
export const RESULT_HEADER = resultHeader();

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseFlags(
    {
      total: flag.int(20_000, "puts per client count"),
      clients: flag.string("1,16,64", "comma-separated client counts"),
      "value-bytes": flag.int(256, "value size"),
      dir: flag.string("", "data directory (default: a new temp dir)"),
    },
    argv,
  );
  const dir = values.dir === "" ? mkdtempSync(join(tmpdir(), "cairn-bench-etcd-")) : values.dir;
  const cluster = await startEtcdCluster(dir);
  try {
    console.log(`${cluster.version}, ${MEMBERS} members on 127.0.0.1, data in ${dir}`);
    console.log(`${values.total} puts of ${values["value-bytes"]} B random values per row`);
    console.log(RESULT_HEADER);
    for (const clients of values.clients.split(",").map(Number)) {
      const w = {
        total: values.total,
        clients,
        valueBytes: values["value-bytes"],
        keyPrefix: `c${clients}/k`,
      };
      console.log(formatResult("etcd", clients, await runPutLoad(kvPutEtcd(cluster.endpoints, w))));
    }
  } finally {
    await cluster.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
