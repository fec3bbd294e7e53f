/**
 * Bad input everywhere (issue 17, item 5): every route of ROUTES, with hostile paths, parameters, headers and
 * bodies, through the pure handler over a MemoryServer and a local agent, with ACLs off and on (default deny:
 * the management token, the anonymous token, unknown secrets). Each answer must be a 2xx, a 4xx with a message,
 * or a 5xx that docs/consul-compat.md §0.6 documents; never a rejection or a hang; and a refused request must
 * change nothing. A failure prints fast-check's seed and path; `FUZZ_SEED=<n>` replays that run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { AclSettings } from "../api/acl-types.js";
import { MemoryServer } from "../api/memory-server.js";
import type { LocalState } from "../local/state.js";
import { manualLocalState } from "../local/test-util.js";
import { checkFuzz } from "../util/fuzz-check.js";
import { describeProbe, digest, hostileString, judge, type Probe, probe, toRequest } from "./fuzz-util.js";
import { memoryRequest } from "./model.js";
import { handle } from "./router.js";
import { text } from "./test-util.js";

const ROOT = "fuzz-root-secret";
const NUM_RUNS = 500;
/** Far above any answer's time (each takes about a millisecond): past it, the request is taken as hung. */
const HANG_MS = 10_000;

async function world(acl: AclSettings | undefined): Promise<{ api: MemoryServer; local: LocalState }> {
  const api = new MemoryServer(acl === undefined ? {} : { acl });
  await api.aclReady;
  const local = manualLocalState();
  const send = async (method: string, target: string, body?: string) => {
    const headers = { "X-Consul-Token": ROOT };
    const res = await handle(
      memoryRequest(method, target, body === undefined ? { headers } : { headers, body }),
      api,
      local,
    );
    assert.equal(res.status, 200, `${method} ${target}: ${text(res)}`);
  };
  for (const k of ["app/a", "app/b", "x"]) await send("PUT", `/v1/kv/${k}`, "v");
  await send(
    "PUT",
    "/v1/catalog/register",
    JSON.stringify({
      Node: "n1",
      Address: "10.0.0.1",
      Service: { ID: "web", Service: "web", Port: 80 },
      Check: { CheckID: "c", Name: "c", Status: "passing", ServiceID: "web" },
    }),
  );
  await send("PUT", "/v1/session/create", JSON.stringify({ Node: "n1", Name: "s" }));
  await send(
    "PUT",
    "/v1/agent/service/register",
    JSON.stringify({ Name: "web", ID: "web1", Check: { TTL: "10s" } }),
  );
  return { api, local };
}

async function withinBound<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms: ${what}`)), HANG_MS);
  });
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** The property over one world: judged answer, and nothing changed by a refusal. */
async function fuzz(
  acl: AclSettings | undefined,
  tokens: fc.Arbitrary<string | undefined>,
  opts: { readonly leaderless?: boolean } = {},
): Promise<void> {
  const { api, local } = await world(acl);
  // Seeded while it had a leader; then it loses it, as a server does during an election.
  if (opts.leaderless === true) api.hasLeader = false;
  try {
    await checkFuzz(
      fc.asyncProperty(probe(tokens), async (p: Probe) => {
        const what = describeProbe(p);
        // A request that blocks the event loop cannot be caught by the bound below: FUZZ_TRACE names it.
        if (process.env.FUZZ_TRACE !== undefined) process.stderr.write(`${what.slice(0, 400)}\n`);
        const before = await digest(api, local);
        const indexBefore = api.index;
        const res = await withinBound(handle(toRequest(p), api, local), what);
        const broken = await judge(p, res);
        assert.equal(broken, null, `${what}\n→ ${broken}`);
        if (res.status >= 300) {
          assert.equal(
            await digest(api, local),
            before,
            `refused (${res.status}) but changed the state: ${what}`,
          );
          // A refusal judged before the proposal consumes no index; one the state store judges at apply time
          // (Consul's 500s, a txn's 409, the 404 of a renew: renewals are replicated) consumes its raft index,
          // as a failed apply does in Consul, and changes nothing else.
          if (res.status < 500 && res.status !== 409 && res.status !== 404)
            assert.equal(api.index, indexBefore, `refused (${res.status}) but consumed an index: ${what}`);
        }
      }),
      NUM_RUNS,
    );
  } finally {
    local.stop();
  }
}

const ACL_ON: AclSettings = {
  enabled: true,
  defaultPolicy: "deny",
  downPolicy: "extend-cache",
  tokens: { initialManagement: ROOT },
};

describe("every HTTP route under hostile input", () => {
  it("ACLs off: answers are 2xx, 4xx with a message or a documented 500; refusals change nothing", async () => {
    await fuzz(undefined, fc.option(hostileString, { nil: undefined }));
  });

  it("ACLs on, default deny: the management token, the anonymous token and unknown secrets alike", async () => {
    await fuzz(
      ACL_ON,
      fc.oneof(
        fc.constant(ROOT),
        fc.constant(undefined),
        hostileString,
        fc.constant("00000000-0000-0000-0000-000000000002"),
      ),
    );
  });

  it("without a leader, ACLs on: writes and consistent reads refused as Consul refuses them, nothing changed", async () => {
    await fuzz(ACL_ON, fc.oneof(fc.constant(ROOT), fc.constant(undefined), hostileString), {
      leaderless: true,
    });
  });
});
