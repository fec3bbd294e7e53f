import { tmpdir } from "node:os";
import { join } from "node:path";
import { agent } from "./agent.js";
import { startCairnCluster } from "./cairn.js";
import { formatResult, kvPutCairn, kvPutEtcd, RESULT_HEADER, startEtcdCluster } from "./etcd.js";
import { type PutLoadResult, runPutLoad } from "./load.js";
import { snapshot } from "./snapshot.js";

/**
 * `npm run bench -- kv [-total N]`: writes through PUT /v1/kv with 1, 16 and 64 keep-alive clients against a
 * 3-server cairn datacenter, then the same load against 3 etcd members (v3 JSON gateway) in the same run, one
 * engine at a time, and prints both with the ratios. Not a test: figures, never assertions.
 */
async function kv(argv: readonly string[]): Promise<void> {
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
      `ratio      ${String(clients).padStart(5)}  writes/s ${(c.writesPerSec / e.writesPerSec).toFixed(2)}x  ` +
        `p50 ${(c.p50Ms / e.p50Ms).toFixed(2)}x  p99 ${(c.p99Ms / e.p99Ms).toFixed(2)}x (lower is better for latency)\n`,
    );
  }
}

const [what, ...rest] = process.argv.slice(2);
if (what === "kv") await kv(rest);
else if (what === "snapshot") await snapshot(rest);
else if (what === "agent") await agent(rest);
else {
  process.stderr.write(
    "usage: npm run bench -- kv [-total N]\n" +
      "       npm run bench -- snapshot [-keys 100000,1000000] [-load-budget-min 20] [-dir DIR]\n" +
      "       npm run bench -- agent [-keys 1000000] [-runs 1] [-stores s3,azure]\n",
  );
  process.exitCode = 2;
}
