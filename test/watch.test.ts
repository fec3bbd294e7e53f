/**
 * Blocking queries at scale against a real server: 2,000 blocking GETs on distinct keys, each answered when its
 * own key is written and not before, and the watchers of keys nobody wrote still blocked at the end.
 */
import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, before, describe, it } from "node:test";
import { type Agent as CairnAgent, Cluster } from "./cluster.js";

const WATCHERS = 2000;
/** Half the watched keys are written; the other half must stay blocked. */
const WRITTEN = 1000;
const BATCH = 25;
const WAKE_WAIT_MS = 15_000;

interface Answer {
  readonly status: number;
  readonly index: number;
  readonly body: string;
}

/** One GET over `agent`, its whole answer; rejects on a transport error. */
function get(agent: Agent, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          index: Number(res.headers["x-consul-index"]),
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function putKey(server: CairnAgent, key: string, value: string): Promise<void> {
  const r = await fetch(`${server.http}/v1/kv/${key}`, {
    method: "PUT",
    body: value,
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(await r.text(), "true", `PUT ${key}`);
}

/** Resolves once every promise in `ps` has, or rejects after `ms` naming `what`. */
async function within<T>(ms: number, what: string, ps: readonly Promise<T>[]): Promise<T[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.all(ps), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("blocking queries at scale", { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let server: CairnAgent;
  // Each blocked GET holds a socket of its own.
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

  before(async () => {
    cluster = await Cluster.start(1, 1);
    server = await cluster.leader();
  });

  after(async () => {
    agent.destroy();
    await cluster?.stop();
  });

  it(`${WATCHERS} blocking GETs on distinct keys each answer when their own key is written, and only then`, async () => {
    for (let i = 0; i < WATCHERS; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => putKey(server, `w/k${i + j}`, "v0")));
    }
    const listed = await fetch(`${server.http}/v1/kv/w/?recurse`);
    const indexOf = new Map(
      ((await listed.json()) as { Key: string; ModifyIndex: number }[]).map((e) => [e.Key, e.ModifyIndex]),
    );
    assert.equal(indexOf.size, WATCHERS);

    const answered = new Map<number, Answer>();
    const failures: string[] = [];
    const answers = Array.from({ length: WATCHERS }, (_, i) => {
      const url = `${server.http}/v1/kv/w/k${i}?index=${indexOf.get(`w/k${i}`)}&wait=5m`;
      return get(agent, url).then(
        (a) => {
          answered.set(i, a);
          return a;
        },
        (e: unknown) => {
          failures.push(`watcher ${i}: ${String(e)}`);
          return { status: 0, index: 0, body: "" };
        },
      );
    });

    // Every other key, in batches; each batch's watchers answer with the new value, nobody else does.
    const order = Array.from({ length: WRITTEN }, (_, j) => (j * 2 + 1) % WATCHERS);
    for (let b = 0; b < order.length; b += BATCH) {
      const batch = order.slice(b, b + BATCH);
      for (const i of batch) assert.ok(!answered.has(i), `watcher ${i} answered before its key was written`);
      await Promise.all(batch.map((i) => putKey(server, `w/k${i}`, `v${i}`)));
      const got = await within(
        WAKE_WAIT_MS,
        `the watchers of batch ${b / BATCH}`,
        batch.map((i) => answers[i]!),
      );
      for (const [n, a] of got.entries()) {
        const i = batch[n]!;
        assert.equal(a.status, 200);
        assert.ok(a.index > (indexOf.get(`w/k${i}`) ?? 0), `watcher ${i} answered at index ${a.index}`);
        const [entry] = JSON.parse(a.body) as { Key: string; Value: string }[];
        assert.equal(entry?.Key, `w/k${i}`);
        assert.equal(Buffer.from(entry?.Value ?? "", "base64").toString(), `v${i}`);
      }
      assert.equal(answered.size, b + batch.length, "only the written keys' watchers answered");
    }

    // A last write with a watcher of its own: once that watcher has answered, every earlier write has been
    // applied and answered long before; the watchers of unwritten keys are still blocked.
    await putKey(server, "w/last", "v0");
    const last = await fetch(`${server.http}/v1/kv/w/last`);
    const lastIndex = Number(last.headers.get("x-consul-index"));
    const lastAnswer = get(agent, `${server.http}/v1/kv/w/last?index=${lastIndex}&wait=5m`);
    await putKey(server, "w/last", "v1");
    await within(WAKE_WAIT_MS, "the last watcher", [lastAnswer]);
    assert.equal(answered.size, WRITTEN);
    for (let i = 0; i < WATCHERS; i += 2)
      assert.ok(!answered.has(i), `watcher ${i} of an unwritten key answered`);
    assert.deepEqual(failures, []);
  });
});
