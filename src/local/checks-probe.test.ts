import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer } from "node:net";
import { after, describe, it } from "node:test";
import { probeHttp, USER_AGENT } from "./checks-http.js";
import { probeTcp } from "./checks-tcp.js";
import { NO_PROBE } from "./defs.js";

const servers: { close(): unknown }[] = [];
after(() => {
  for (const s of servers) s.close();
});

function listen(s: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  servers.push(s);
  return new Promise((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)));
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await new Promise<number>((r) =>
    s.listen(0, "127.0.0.1", () => r((s.address() as AddressInfo).port)),
  );
  await new Promise((r) => s.close(r));
  return port;
}

describe("HTTP checks against a real server", () => {
  it("2xx is passing, 429 warning, 500 critical, with Consul's output and User-Agent", async () => {
    const seen: string[] = [];
    const port = await listen(
      createHttpServer((req, res) => {
        seen.push(`${req.method} ${req.headers["user-agent"]} ${req.headers["x-a"]}`);
        const code = Number(req.url?.slice(1));
        res.writeHead(code);
        res.end(code === 200 ? "healthy" : "nope");
      }),
    );
    const base = `http://127.0.0.1:${port}`;
    const p = { ...NO_PROBE, intervalMs: 10_000, header: { "X-A": ["b"] } };
    assert.deepEqual(await probeHttp({ ...p, http: `${base}/200` }), {
      status: "passing",
      output: `HTTP GET ${base}/200: 200 OK Output: healthy`,
    });
    assert.equal((await probeHttp({ ...p, http: `${base}/429` })).status, "warning");
    const bad = await probeHttp({ ...p, http: `${base}/500`, method: "post" });
    assert.deepEqual(bad, {
      status: "critical",
      output: `HTTP POST ${base}/500: 500 Internal Server Error Output: nope`,
    });
    assert.deepEqual(seen[0], `GET ${USER_AGENT} b`);
  });

  it("a body longer than 4 KiB is cut; a refused connection and a timeout are critical", async () => {
    let hang = false;
    const port = await listen(
      createHttpServer((_req, res) => {
        if (hang) return; // never answers: the probe's timeout must end it
        res.end("y".repeat(10_000));
      }),
    );
    const url = `http://127.0.0.1:${port}/`;
    const long = await probeHttp({ ...NO_PROBE, http: url, intervalMs: 1 });
    assert.equal(long.output, `HTTP GET ${url}: 200 OK Output: ${"y".repeat(4096)}`);
    hang = true;
    const slow = await probeHttp({ ...NO_PROBE, http: url, intervalMs: 1, timeoutMs: 100 });
    assert.equal(slow.status, "critical");
    assert.match(slow.output, /Client\.Timeout exceeded/);
    const closed = await closedPort();
    const refused = await probeHttp({ ...NO_PROBE, http: `http://127.0.0.1:${closed}/`, intervalMs: 1 });
    assert.deepEqual(refused, {
      status: "critical",
      output: `Get "http://127.0.0.1:${closed}/": dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    });
  });
});

describe("HTTP check redirects and output limits", () => {
  it("follows redirects as Go's client (up to 10) unless DisableRedirects, and honours OutputMaxSize", async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        if (req.url === "/loop") {
          res.writeHead(302, { Location: "/loop" });
          res.end();
        } else if (req.url === "/moved") {
          res.writeHead(301, { Location: "/ok" });
          res.end();
        } else res.end(`${req.method} body`);
      }),
    );
    const base = `http://127.0.0.1:${port}`;
    const p = { ...NO_PROBE, intervalMs: 1000 };
    assert.deepEqual(await probeHttp({ ...p, http: `${base}/moved` }), {
      status: "passing",
      output: `HTTP GET ${base}/moved: 200 OK Output: GET body`,
    });
    assert.equal(
      (await probeHttp({ ...p, http: `${base}/moved`, disableRedirects: true })).output,
      `HTTP GET ${base}/moved: 301 Moved Permanently Output: `,
    );
    assert.deepEqual(await probeHttp({ ...p, http: `${base}/loop` }), {
      status: "critical",
      output: `Get "${base}/loop": stopped after 10 redirects`,
    });
    assert.equal(
      (await probeHttp({ ...p, http: `${base}/ok`, outputMaxSize: 3 })).output.endsWith("Output: GET"),
      true,
    );
  });
});

describe("stopping a check aborts its probe in flight", () => {
  it("an HTTP probe to a server that never answers ends at once on abort, not at its 10 s timeout", async () => {
    const port = await listen(createHttpServer(() => {}));
    const abort = new AbortController();
    const t0 = performance.now();
    const pending = probeHttp(
      { ...NO_PROBE, http: `http://127.0.0.1:${port}/`, intervalMs: 1000 },
      abort.signal,
    );
    setTimeout(() => abort.abort(), 50);
    const r = await pending;
    assert.equal(r.status, "critical");
    assert.ok(performance.now() - t0 < 5000, "ended by the abort");
  });
});

describe("TCP checks against a real socket", () => {
  it("a listening socket is passing; a closed port is critical", async () => {
    const port = await listen(createTcpServer((s) => s.destroy()));
    assert.deepEqual(await probeTcp(`127.0.0.1:${port}`, 0), {
      status: "passing",
      output: `TCP connect 127.0.0.1:${port}: Success`,
    });
    const closed = await closedPort();
    assert.deepEqual(await probeTcp(`127.0.0.1:${closed}`, 1000), {
      status: "critical",
      output: `dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    });
    assert.equal((await probeTcp("no-port", 1000)).output, "dial tcp no-port: missing port in address");
  });
});
