import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTlsSetup } from "../src/util/tls-generate.js";
import { agent } from "./agent.js";
import { startCairnCluster } from "./cairn.js";
import {
  formatResult,
  kvPutCairn,
  kvPutEtcd,
  type PutWorkload,
  RESULT_HEADER,
  startEtcdCluster,
} from "./etcd.js";
import { type PutLoadResult, runPutLoad } from "./load.js";
import { reads } from "./reads.js";
import { kvShape } from "./shape.js";
import { snapshot } from "./snapshot.js";
import { watch } from "./watch.js";

/**
 * `npm run bench -- kv [-total N]`: writes through PUT /v1/kv with 1, 16 and 64 keep-alive clients against a
 * 3-server cairn datacenter, then the same load against 3 etcd members (v3 JSON gateway) in the same run, one
 * engine at a time, and prints both with the ratios. Then the cost of security, in the same run: cairn with ACLs
 * on (default deny; the writes carry a token whose one policy is a `key_prefix` write), and cairn over HTTPS with
 * client certificates (verify_incoming), each against the plain figures. Not a test: figures, never assertions.
 */
async function kv(argv: readonly string[]): Promise<void> {
  if (argv.includes("-keys")) return kvShape(argv);
  const totalArg = argv.indexOf("-total");
  const total = totalArg >= 0 ? Number(argv[totalArg + 1]) : 100_000;
  const clientCounts = [1, 16, 64];
  const dir = join(tmpdir(), `cairn-bench-${process.pid}`);
  const results = new Map<string, PutLoadResult>();
  // The same writes for both engines; a single client writes at most 10 k keys (it is latency-bound).
  const workload = (clients: number) => ({
    total: clients === 1 ? Math.min(total, 10_000) : total,
    clients,
    valueBytes: 256,
    keyPrefix: `c${clients}/k`,
  });
  const cairn = await startCairnCluster(join(dir, "cairn"));
  try {
    for (const clients of clientCounts) {
      results.set(`cairn/${clients}`, await runPutLoad(kvPutCairn(cairn.endpoints, workload(clients))));
    }
  } finally {
    await cairn.stop();
  }
  const secured = await securityRuns(dir, clientCounts, workload);
  const etcd = await startEtcdCluster(join(dir, "etcd"));
  try {
    for (const clients of clientCounts) {
      results.set(`etcd/${clients}`, await runPutLoad(kvPutEtcd(etcd.endpoints, workload(clients))));
    }
  } finally {
    await etcd.stop();
  }
  process.stdout.write(
    `${total} keys x 256 B random values (1 client: ${Math.min(total, 10_000)})\n${RESULT_HEADER}\n`,
  );
  for (const clients of clientCounts) {
    const c = results.get(`cairn/${clients}`)!;
    const e = results.get(`etcd/${clients}`)!;
    process.stdout.write(`${formatResult("cairn", clients, c)}\n${formatResult("etcd", clients, e)}\n`);
    process.stdout.write(
      `ratio         ${String(clients).padStart(5)}  writes/s ${(c.writesPerSec / e.writesPerSec).toFixed(2)}x  ` +
        `p50 ${(c.p50Ms / e.p50Ms).toFixed(2)}x  p99 ${(c.p99Ms / e.p99Ms).toFixed(2)}x (lower is better for latency)\n`,
    );
  }
  process.stdout.write(`\nsecurity, against plain cairn in this run\n${RESULT_HEADER}\n`);
  for (const clients of clientCounts) {
    const plain = results.get(`cairn/${clients}`)!;
    for (const [name, runs] of secured) {
      const r = runs.get(clients)!;
      process.stdout.write(
        `${formatResult(name, clients, r)}   ${((100 * r.writesPerSec) / plain.writesPerSec).toFixed(0)} % of plain\n`,
      );
    }
  }
}

/**
 * The secured variants of the kv load, each on a datacenter of its own: ACLs on (a `key_prefix` token); the API
 * over HTTPS with client certificates (`tls.https.verify_incoming`); and that plus mutual TLS between the servers
 * with their names checked (what `npm start -- --secure` runs).
 */
async function securityRuns(
  dir: string,
  clientCounts: readonly number[],
  workload: (clients: number) => PutWorkload,
): Promise<Map<string, Map<number, PutLoadResult>>> {
  const out = new Map<string, Map<number, PutLoadResult>>();
  const root = randomUUID();
  const aclConfig = { acl: { enabled: true, default_policy: "deny", tokens: { initial_management: root } } };
  const withAcl = await startCairnCluster(join(dir, "cairn-acl"), 3, { config: aclConfig });
  try {
    const token = await writerToken(withAcl.endpoints[0]!, root);
    const runs = new Map<number, PutLoadResult>();
    for (const clients of clientCounts) {
      const load = kvPutCairn(withAcl.endpoints, workload(clients));
      runs.set(clients, await runPutLoad({ ...load, headers: { "X-Consul-Token": token } }));
    }
    out.set("cairn+acl", runs);
  } finally {
    await withAcl.stop();
  }
  const tlsDir = join(dir, "tls");
  rmSync(tlsDir, { recursive: true, force: true });
  mkdirSync(tlsDir, { recursive: true });
  const files = await writeTlsSetup(tlsDir);
  const tls = {
    ca: readFileSync(files.caFile),
    cert: readFileSync(files.clientCertFile),
    key: readFileSync(files.clientKeyFile),
  };
  const pair = { ca_file: files.caFile, cert_file: files.certFile, key_file: files.keyFile };
  const variants: readonly (readonly [string, Readonly<Record<string, unknown>>])[] = [
    ["cairn+https", { tls: { defaults: pair, https: { verify_incoming: true } } }],
    [
      "cairn+mtls",
      {
        tls: {
          defaults: { ...pair, verify_incoming: true, verify_outgoing: true },
          internal_rpc: { verify_server_hostname: true },
        },
      },
    ],
  ];
  for (const [name, config] of variants) {
    const cluster = await startCairnCluster(join(dir, name.replace("+", "-")), 3, { config, https: true });
    try {
      const runs = new Map<number, PutLoadResult>();
      for (const clients of clientCounts) {
        runs.set(
          clients,
          await runPutLoad({ ...kvPutCairn(cluster.httpsEndpoints, workload(clients)), tls }),
        );
      }
      out.set(name, runs);
    } finally {
      await cluster.stop();
    }
  }
  return out;
}

/**
 * A token whose one policy grants write on the workload's keys, made with the management token once the leader
 * has created it (its ACL initialization follows the election: retried for up to 30 s).
 */
async function writerToken(endpoint: string, root: string): Promise<string> {
  const put = async (path: string, body: unknown) => {
    const res = await fetch(`${endpoint}${path}`, {
      method: "PUT",
      headers: { "X-Consul-Token": root },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { ID: string; SecretID: string };
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const policy = await put("/v1/acl/policy", {
        Name: "bench-writer",
        Rules: 'key_prefix "c" { policy = "write" }',
      });
      return (await put("/v1/acl/token", { Policies: [{ ID: policy.ID }] })).SecretID;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const [what, ...rest] = process.argv.slice(2);
if (what === "kv") await kv(rest);
else if (what === "reads") await reads(rest);
else if (what === "snapshot") await snapshot(rest);
else if (what === "agent") await agent(rest);
else if (what === "watch") await watch(rest);
else {
  process.stderr.write(
    "usage: npm run bench -- kv [-total N]\n" +
      "       npm run bench -- kv -keys 100000,1000000 [-total 50000] [-clients 1,16,64]\n" +
      "       npm run bench -- reads [-total 100000] [-keys 10000] [-clients 64]\n" +
      "       npm run bench -- snapshot [-keys 100000,1000000] [-load-budget-min 20] [-dir DIR]\n" +
      "       npm run bench -- agent [-keys 1000000] [-runs 1] [-stores s3,azure]\n" +
      "       npm run bench -- watch [-watchers 10000[,…]] [-keys 1000] [-prof-dir DIR]\n",
  );
  process.exitCode = 2;
}
