import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logRequest, redactedUrl } from "./request-log.js";

describe("the request log hides tokens as Consul's agent/http.go does", () => {
  const cases: [string, string][] = [
    ["/v1/kv/a", "/v1/kv/a"],
    ["/v1/kv/a?token=abc123", "/v1/kv/a?token=<hidden>"],
    ["/v1/kv/a?recurse&token=abc123&dc=dc1", "/v1/kv/a?recurse&token=<hidden>&dc=dc1"],
    // Consul replaces the value wherever it occurs, so it cannot reappear elsewhere in the URL.
    ["/v1/kv/abc123?token=abc123", "/v1/kv/<hidden>?token=<hidden>"],
    // Escaped on the wire: both the escaped and the decoded forms are hidden.
    ["/v1/kv/a?token=s%2Fx%2By", "/v1/kv/a?token=<hidden>"],
    ["/v1/kv/a?tok%65n=abc123", "/v1/kv/a?tok%65n=<hidden>"],
    // Two token parameters: both values.
    ["/v1/kv/a?token=one1&token=two2", "/v1/kv/a?token=<hidden>&token=<hidden>"],
    // An empty token gets <hidden> appended, as Consul's loop does.
    ["/v1/kv/a?token=", "/v1/kv/a?token=<hidden>"],
    // The legacy ACL endpoints carried the token in the path (Consul's aclEndpointRE).
    ["/v1/acl/info/8f3a-secret?dc=dc1", "/v1/acl/info/<hidden>?dc=dc1"],
    ["/v1/acl/destroy/8f3a-secret", "/v1/acl/destroy/<hidden>"],
    // The current ACL API names tokens by AccessorID, which is not a secret.
    ["/v1/acl/token/1b2c-accessor", "/v1/acl/token/1b2c-accessor"],
  ];
  for (const [target, want] of cases) {
    it(`${target} → ${want}`, () => assert.equal(redactedUrl(target), want));
  }

  it("writes Request finished at debug, and Request error for a 5xx", () => {
    const lines: string[] = [];
    const log = {
      debug: (m: string) => lines.push(`debug ${m}`),
      error: (m: string) => lines.push(`error ${m}`),
    };
    const entry = { method: "GET", target: "/v1/kv/a?token=abc123", from: "127.0.0.1:5000", latencyMs: 1.5 };
    logRequest(log, { ...entry, status: 200 });
    logRequest(log, { ...entry, status: 500 });
    assert.deepEqual(lines, [
      "debug Request finished: method=GET url=/v1/kv/a?token=<hidden> from=127.0.0.1:5000 latency=1.5ms",
      "error Request error: method=GET url=/v1/kv/a?token=<hidden> from=127.0.0.1:5000 status=500",
      "debug Request finished: method=GET url=/v1/kv/a?token=<hidden> from=127.0.0.1:5000 latency=1.5ms",
    ]);
  });
});
