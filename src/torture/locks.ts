/**
 * The torture's lock clients, as `cairn lock` uses Consul: create a session, acquire a key with it
 * (`PUT ?acquire=<session>`), hold it a moment, release it (`PUT ?release=<session>`), destroy the session.
 *
 * Each acquire and release joins the linearizability history as the checker's lock ops (a value `data|holder`:
 * an acquire succeeds iff the key is free or already the session's), so the per-key check proves the locks
 * exclusive: no acquire succeeded while another session held the key. A session's destroy releases what it
 * holds; it joins the history as a release that may take effect at any point after its call or never (a
 * superset of what it really does: release if held). What the check cannot judge is kept out:
 * - the sessions have no TTL and no health checks, so only their client ends them (a TTL invalidation's moment
 *   is unknown from outside);
 * - their LockDelay is 0, since a free key refused for lock-delay is not a register's behaviour;
 * - lock keys are never read, since a destroy leaves the value naming the old holder while the model frees it.
 * So lock-delay and TTL expiry under faults are not checked here (docs/torture.md).
 */
import type { Rng } from "../util/rng.js";
import { request, type Workload } from "./workload.js";

export const LOCK_PREFIX = "torture/lock/";

export async function lockWorker(
  w: Workload,
  id: number,
  endpoints: readonly string[],
  rng: Rng,
  o: {
    readonly keyEpochMs: number;
    readonly keysPerEpoch: number;
    readonly requestTimeoutMs: number;
    readonly now: () => number;
    readonly stopping: () => boolean;
  },
): Promise<void> {
  const pick = (): string => endpoints[rng.int(0, endpoints.length)]!;
  const start = o.now();
  let seq = 0;
  while (!o.stopping()) {
    const created = await request(
      `${pick()}/v1/session/create`,
      {
        method: "PUT",
        body: JSON.stringify({ Name: `torture-${id}`, LockDelay: "0s", NodeChecks: [], Checks: [] }),
      },
      o.requestTimeoutMs,
    );
    if (created.kind !== "ok" || created.status !== 200) {
      w.count("session create failed");
      await pause(200);
      continue;
    }
    w.count("session create ok");
    const session = (JSON.parse(created.body) as { ID: string }).ID;
    const epoch = Math.floor((o.now() - start) / o.keyEpochMs);
    const key = `${LOCK_PREFIX}e${epoch}/l${rng.int(0, o.keysPerEpoch)}`;
    const got = await lockOp(w, id, pick(), key, session, "acquire", `c${id}-${seq++}|${session}`, o);
    if (got !== false) {
      await pause(rng.int(50, 600));
      // Release until a definite answer (bounded), as a careful client does before giving the session up.
      for (let i = 0; i < 5; i++) {
        const released = await lockOp(w, id, pick(), key, session, "release", `c${id}-${seq++}|`, o);
        if (released !== null) break;
      }
    }
    const call = o.now();
    const destroyed = await request(
      `${pick()}/v1/session/destroy/${session}`,
      { method: "PUT" },
      o.requestTimeoutMs,
    );
    w.count(
      destroyed.kind === "ok" && destroyed.status === 200 ? "session destroy ok" : "session destroy failed",
    );
    if (destroyed.kind !== "refused") {
      w.history.push({
        clientId: id,
        input: { kind: "release", key, value: `d${id}-${seq++}|`, session },
        call,
        ret: Infinity,
        output: null,
      });
    }
  }
}

/** One acquire or release: true / false as answered, null when indeterminate (recorded as such). */
async function lockOp(
  w: Workload,
  id: number,
  endpoint: string,
  key: string,
  session: string,
  kind: "acquire" | "release",
  value: string,
  o: { readonly requestTimeoutMs: number; readonly now: () => number },
): Promise<boolean | null> {
  const call = o.now();
  const r = await request(
    `${endpoint}/v1/kv/${key}?${kind}=${session}`,
    { method: "PUT", body: value },
    o.requestTimeoutMs,
  );
  if (r.kind === "refused") {
    w.count(`${kind} refused`);
    return false;
  }
  const input = { kind, key, value, session } as const;
  if (r.kind === "ok" && r.status === 200 && (r.body === "true" || r.body === "false")) {
    const ok = r.body === "true";
    w.history.push({ clientId: id, input, call, ret: o.now(), output: { kind: "cas", ok } });
    w.count(`${kind} ${ok ? "ok" : "failed"}`);
    return ok;
  }
  w.history.push({ clientId: id, input, call, ret: Infinity, output: null });
  w.count(`${kind} indeterminate`);
  return null;
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
