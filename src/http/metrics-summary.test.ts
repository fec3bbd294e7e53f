import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { metricsSummary } from "./metrics-summary.js";
import { call, text } from "./test-util.js";

describe("GET /v1/agent/metrics without ?format", () => {
  it("answers Consul's JSON summary built from the server's registry", async () => {
    const api = new MemoryServer();
    const m = api.serverMetrics;
    m.term.set(3);
    m.httpRequests.inc({ method: "GET", route: "/v1/kv/", code: "200" });
    m.httpRequests.inc({ method: "GET", route: "/v1/kv/", code: "200" });
    m.httpRequests.inc({ method: "PUT", route: "/v1/kv/", code: "200" });
    m.fsyncSeconds.observe(0.0003);
    m.fsyncSeconds.observe(0.002);
    const res = await call(api, "GET", "/v1/agent/metrics");
    assert.equal(res.status, 200);
    const body = JSON.parse(text(res));
    assert.deepEqual(Object.keys(body), ["Timestamp", "Gauges", "Points", "Counters", "Samples"]);
    assert.match(body.Timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d0 \+0000 UTC$/);
    assert.deepEqual(body.Points, []);
    assert.deepEqual(
      body.Gauges.find((g: { Name: string }) => g.Name === "cairn_raft_term"),
      { Name: "cairn_raft_term", Value: 3, Labels: {} },
    );
    const gets = body.Counters.find((c: { Labels: { method?: string } }) => c.Labels.method === "GET");
    assert.deepEqual(Object.keys(gets), [
      "Name",
      "Count",
      "Rate",
      "Sum",
      "Min",
      "Max",
      "Mean",
      "Stddev",
      "Labels",
    ]);
    assert.deepEqual([gets.Name, gets.Count, gets.Sum, gets.Mean], ["cairn_http_requests_total", 2, 2, 1]);
    assert.deepEqual(gets.Labels, { code: "200", method: "GET", route: "/v1/kv/" });
    const fsync = body.Samples.find((s: { Name: string }) => s.Name === "cairn_raft_fsync_seconds");
    assert.equal(fsync.Count, 2);
    assert.ok(Math.abs(fsync.Sum - 0.0023) < 1e-12);
    assert.deepEqual([fsync.Min, fsync.Max], [0.00025, 0.0025]);
  });

  it("summarises a histogram from its buckets, observations past the last bound included", () => {
    const values = [
      { value: 0, labels: { le: 1 }, metricName: "h_bucket" },
      { value: 2, labels: { le: 2 }, metricName: "h_bucket" },
      { value: 2, labels: { le: 4 }, metricName: "h_bucket" },
      { value: 3, labels: { le: "+Inf" }, metricName: "h_bucket" },
      { value: 9, labels: {}, metricName: "h_sum" },
      { value: 3, labels: {}, metricName: "h_count" },
    ];
    const s = metricsSummary(
      [{ name: "h", type: "histogram", values }],
      new Date(Date.UTC(2026, 0, 2, 3, 4, 17)),
      3,
    );
    const summary = s as { Timestamp: string; Samples: Array<Record<string, unknown>> };
    assert.equal(summary.Timestamp, "2026-01-02 03:04:10 +0000 UTC");
    const { Stddev, ...rest } = summary.Samples[0] ?? {};
    assert.deepEqual(rest, { Name: "h", Count: 3, Rate: 3, Sum: 9, Min: 1, Max: 4, Mean: 3, Labels: {} });
    // Positions 1.5, 1.5 (bucket 1..2) and 4 (past the last bound): their sample deviation.
    const m = 7 / 3;
    assert.ok(Math.abs((Stddev as number) - Math.sqrt((2 * (1.5 - m) ** 2 + (4 - m) ** 2) / 2)) < 1e-9);
  });
});
