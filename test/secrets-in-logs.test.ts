/**
 * No token reaches a log: a real agent at debug level (every request logged, as Consul's `Request finished`)
 * and the CLI, with tokens passed every way there is (`?token=`, `X-Consul-Token`, `Authorization: Bearer`,
 * `-token`, `-token-file`, `CONSUL_HTTP_TOKEN`, `CONSUL_HTTP_TOKEN_FILE`, and the snapshot agent's `-token` and
 * config-file `token`), on successes, client errors and a server error; then every line any of them wrote is
 * searched for each secret.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Cluster, runCairn } from "./cluster.js";

/** Distinct, unguessable-looking secrets, one per way of passing a token. */
const SECRET = {
  query: "3f0d9c1e-query-b5a7-4e21-9d3c0f8a1b2c",
  queryEscaped: "7a1c/e4+d2 query-escaped",
  header: "c2e8b4a6-header-4f1d-8e3a-5b7c9d0e1f2a",
  bearer: "9b1d3f5a-bearer-4c2e-8a6b-0d1e2f3a4b5c",
  legacyPath: "e5f7a9b1-legacy-path-3d4e-8f0a1b2c3d4e",
  cliFlag: "1a3c5e7f-cli-flag-4b2d-9e8f0a1b2c3d4e5f",
  cliFile: "4d6f8a0b-cli-file-4c3e-8d2f1a0b9c8d7e6f",
  envToken: "6e8a0c2d-env-token-4e5f-8a9b0c1d2e3f4a5b",
  envFile: "8c0e2a4b-env-file-4a6c-8e0f2a4b6c8d0e1f",
  snapshotAgentFlag: "2f4a6c8e-snap-agent-flag-4d1e-9a0b1c2d",
  snapshotAgentConfig: "5c7e9a1b-snap-agent-config-4f2a-8b3c4d5e",
} as const;

describe("secrets never reach a log", { timeout: 120_000 }, () => {
  it("an agent at debug level and the CLI, with tokens passed every way", async () => {
    const c = await Cluster.start(1, 1, ["-log-level", "debug"]);
    const cliOutput: string[] = [];
    const cli = async (...args: string[]): Promise<void> => {
      const r = await runCairn(args);
      cliOutput.push(r.out);
    };
    try {
      const a = await c.leader();
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(`${a.http}${path}`, { headers, signal: AbortSignal.timeout(10_000) }).then((r) => r.status);
      const putKv = (path: string) =>
        fetch(`${a.http}${path}`, { method: "PUT", body: "v", signal: AbortSignal.timeout(10_000) }).then(
          (r) => r.status,
        );

      assert.equal(await putKv(`/v1/kv/app/a?token=${SECRET.query}`), 200);
      assert.equal(await get(`/v1/kv/app/a?token=${encodeURIComponent(SECRET.queryEscaped)}`), 200);
      assert.equal(await get("/v1/kv/app/a", { "X-Consul-Token": SECRET.header }), 200);
      assert.equal(await get("/v1/kv/app/a", { Authorization: `Bearer ${SECRET.bearer}` }), 200);
      // A client error (bad index) and a server error (an unknown session on acquire) carrying the token.
      assert.equal(await get(`/v1/kv/app/a?index=x&token=${SECRET.query}`), 400);
      const acquire = await putKv(
        `/v1/kv/app/l?acquire=00000000-0000-4000-8000-000000000000&token=${SECRET.query}`,
      );
      assert.ok(acquire >= 400, `acquire with an unknown session: ${acquire}`);
      await get(`/v1/acl/info/${SECRET.legacyPath}`);

      const tokenFile = join(c.dir, "token");
      writeFileSync(tokenFile, `${SECRET.cliFile}\n`, { mode: 0o600 });
      const envFile = join(c.dir, "env-token");
      writeFileSync(envFile, SECRET.envFile, { mode: 0o600 });
      const http = ["-http-addr", a.http];
      await cli("kv", "put", ...http, "-token", SECRET.cliFlag, "app/b", "v");
      await cli("kv", "get", ...http, "-token-file", tokenFile, "app/b");
      await cli("kv", "get", ...http, "-token", SECRET.cliFlag, "app/missing");
      await cli("snapshot", "save", ...http, "-token", SECRET.cliFlag, join(c.dir, "b.snap"));
      await cli(
        "snapshot",
        "save",
        "-http-addr",
        "127.0.0.1:1",
        "-token",
        SECRET.cliFlag,
        join(c.dir, "c.snap"),
      );
      // The child inherits the environment as it is when it is spawned.
      process.env.CONSUL_HTTP_TOKEN = SECRET.envToken;
      try {
        await cli("kv", "get", ...http, "-recurse", "app/");
      } finally {
        delete process.env.CONSUL_HTTP_TOKEN;
      }
      process.env.CONSUL_HTTP_TOKEN_FILE = envFile;
      try {
        await cli("kv", "get", ...http, "app/a");
      } finally {
        delete process.env.CONSUL_HTTP_TOKEN_FILE;
      }
      // The snapshot agent at debug level, once with -token and once with the token in its config file.
      const backups = join(c.dir, "backups");
      const once = [
        "snapshot",
        "agent",
        "-interval",
        "0",
        "-log-level",
        "debug",
        ...http,
        "-local-path",
        backups,
      ];
      await cli(...once, "-token", SECRET.snapshotAgentFlag);
      const agentConfig = join(c.dir, "snapshot-agent.json");
      writeFileSync(agentConfig, JSON.stringify({ snapshot_agent: { token: SECRET.snapshotAgentConfig } }), {
        mode: 0o600,
      });
      await cli(...once, "-config-file", agentConfig);
      await c.stopAgent(a);

      const log = a.output;
      // The log is not empty: every request above was logged, tokens hidden.
      assert.match(
        log,
        /\[DEBUG\] +agent: http: Request finished: method=PUT url=\/v1\/kv\/app\/a\?token=<hidden> /,
      );
      assert.match(log, /url=\/v1\/acl\/info\/<hidden> /);
      assert.match(log, /Request finished: method=GET url=\/v1\/snapshot /);
      const everything = [log, ...cliOutput].join("\n");
      const forms = (s: string) => [s, encodeURIComponent(s), encodeURIComponent(s).replace(/%20/g, "+")];
      for (const [how, secret] of Object.entries(SECRET))
        for (const form of forms(secret))
          assert.ok(!everything.includes(form), `the ${how} token was logged`);
    } finally {
      await c.stop();
    }
  });
});
