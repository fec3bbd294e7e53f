import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runCairn } from "./cluster.js";

/** scripts/ports.mjs is plain JavaScript outside the build, so it is loaded from the source tree at run time. */
interface Ports {
  portProblem(host: string, port: number): Promise<string | null>;
  portMessage(host: string, port: number, code: string): string;
  checkPorts(hosts: readonly string[], ports: readonly number[]): Promise<string[]>;
}
const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");
const ports = (await import(join(ROOT, "scripts", "ports.mjs"))) as Ports;

function listenAnywhere(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") throw new Error("no TCP address");
      resolve({ server, port: addr.port });
    });
  });
}

describe("npm start port check", () => {
  it("reports a busy port in words, and a freed one as free", async () => {
    const { server, port } = await listenAnywhere();
    try {
      assert.equal(await ports.portProblem("127.0.0.1", port), "EADDRINUSE");
      assert.deepEqual(await ports.checkPorts(["127.0.0.1"], [port]), [
        `port ${port} on 127.0.0.1 is busy: is another cairn or consul running?`,
      ]);
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.equal(await ports.portProblem("127.0.0.1", port), null);
  });
});

const SCRIPT = join(ROOT, "scripts", "start.mjs");
const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/** A port free on all three loopback addresses the script uses (and not `avoid`). */
async function freePortOnAllHosts(avoid = 0): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const { server, port } = await listenAnywhere();
    await new Promise((r) => server.close(r));
    if (port !== avoid && (await ports.checkPorts(HOSTS, [port])).length === 0) return port;
  }
  throw new Error("no port free on 127.0.0.1, .2 and .3");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `npm start` as a child process on free ports and a temp data dir, with its output collected. */
class StartScript {
  output = "";
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    readonly httpPort: number,
    readonly serverPort: number,
    readonly dataDir: string,
    readonly agentPort: number,
    readonly dnsPort: number,
    args: readonly string[] = [],
    env: Readonly<Record<string, string>> = {},
  ) {
    this.proc = spawn(process.execPath, [SCRIPT, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        CAIRN_START_HTTP_PORT: String(httpPort),
        CAIRN_START_SERVER_PORT: String(serverPort),
        CAIRN_START_DATA_DIR: dataDir,
        CAIRN_START_AGENT_PORT: String(agentPort),
        CAIRN_START_DNS_PORT: String(dnsPort),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.proc.stdout?.on("data", (c: Buffer) => {
      this.output += c.toString();
    });
    this.proc.stderr?.on("data", (c: Buffer) => {
      this.output += c.toString();
    });
    this.exited = new Promise((r) =>
      this.proc.on("close", (code, signal) => {
        this.exit = { code, signal };
        r();
      }),
    );
  }

  /** Every `[cairn-N] started: pid P` line so far, latest last. */
  starts(): Array<{ name: string; pid: number }> {
    return [...this.output.matchAll(/^\[(cairn-\d)\] started: pid (\d+),/gm)].map((m) => ({
      name: m[1]!,
      pid: Number(m[2]),
    }));
  }

  /** Waits (at most `ms`) until `check` returns a value other than undefined; fails with the output's tail. */
  async waitFor<T>(
    what: string,
    ms: number,
    check: () => T | undefined | Promise<T | undefined>,
  ): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (Date.now() > deadline) {
        assert.fail(`no ${what} within ${ms / 1000} s; npm start printed:\n${this.output.slice(-4000)}`);
      }
      await sleep(200);
    }
  }

  url(host: string, path: string): string {
    return `http://${host}:${this.httpPort}${path}`;
  }
}

async function httpGet(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** The value of `key` as read (stale) from the server at `host`, or undefined when it cannot say. */
async function kvValue(s: StartScript, host: string, key: string): Promise<string | undefined> {
  const r = await httpGet(s.url(host, `/v1/kv/${key}?stale`));
  if (r?.status !== 200) return undefined;
  const [entry] = JSON.parse(r.body) as Array<{ Value: string | null }>;
  return Buffer.from(entry?.Value ?? "", "base64").toString();
}

describe("npm start when a server dies", () => {
  it("keeps the survivors, names the dead one, restarts it by command and by `restart`; Ctrl-C stops all", {
    timeout: 180_000,
  }, async (t) => {
    const httpPort = await freePortOnAllHosts();
    const serverPort = await freePortOnAllHosts(httpPort);
    const agentPort = await freePortOnAllHosts(serverPort);
    const dnsPort = await freePortOnAllHosts(agentPort);
    const dataDir = mkdtempSync(join(tmpdir(), "cairn-start-"));
    const s = new StartScript(httpPort, serverPort, dataDir, agentPort, dnsPort);
    let external: ChildProcess | null = null;
    t.after(async () => {
      if (external?.pid !== undefined && external.exitCode === null && external.signalCode === null) {
        process.kill(-external.pid, "SIGKILL");
      }
      if (s.exit === null) s.proc.kill("SIGKILL");
      for (const { pid } of s.starts()) if (alive(pid)) process.kill(pid, "SIGKILL");
      const agentPid = Number(/^\[snapshot-agent\] started: pid (\d+)/m.exec(s.output)?.[1] ?? 0);
      if (agentPid > 0 && alive(agentPid)) process.kill(agentPid, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    });

    const leaderHost = await s.waitFor("leader", 60_000, () => {
      assert.equal(s.exit, null, `npm start exited early:\n${s.output}`);
      return /^cairn is up: 3 servers, leader (127\.0\.0\.\d):/m.exec(s.output)?.[1];
    });
    // The snapshot agent joins: a verified backup in <data>/backups, and its /health says so.
    assert.match(s.output, /A snapshot agent saves a verified backup every 5 minutes/);
    await s.waitFor("a backup by the snapshot agent", 60_000, () =>
      readdirSync(join(dataDir, "backups")).some((f) => /^consul-\d{19}\.snap$/.test(f)) ? true : undefined,
    );
    await s.waitFor("the snapshot agent's /health", 10_000, async () =>
      (await httpGet(`http://127.0.0.1:${agentPort}/health`))?.status === 200 ? true : undefined,
    );
    const first = s.starts();
    assert.equal(first.length, 3);
    const n = HOSTS.indexOf(leaderHost) + 1;
    const victim = first.find((x) => x.name === `cairn-${n}`)!;
    const survivors = first.filter((x) => x !== victim);
    const survivorHosts = survivors.map((x) => HOSTS[Number(x.name.slice(-1)) - 1]!);

    // kill -9 the leader: the other two must keep running and elect a new one.
    process.kill(victim.pid, "SIGKILL");
    await s.waitFor("report of the dead server", 15_000, () =>
      s.output.includes(`[${victim.name}] exited unexpectedly (signal SIGKILL)`) ? true : undefined,
    );
    await s.waitFor("write through a survivor", 60_000, async () => {
      assert.equal(s.exit, null, `npm start must keep running:\n${s.output.slice(-3000)}`);
      const host = survivorHosts[Math.floor(Date.now() / 1000) % 2]!;
      try {
        const res = await fetch(s.url(host, "/v1/kv/failover"), {
          method: "PUT",
          body: "survived",
          signal: AbortSignal.timeout(3000),
        });
        return res.status === 200 && (await res.text()).trim() === "true" ? true : undefined;
      } catch {
        return undefined;
      }
    });
    assert.equal(s.exit, null, "npm start must keep running");
    for (const x of survivors) assert.ok(alive(x.pid), `${x.name} (pid ${x.pid}) must keep running`);
    // A follower learns the commit with the leader's next heartbeat: a stale read there may lag a moment.
    for (const host of survivorHosts) {
      await s.waitFor(`the write on ${host}`, 10_000, async () =>
        (await kvValue(s, host, "failover")) === "survived" ? true : undefined,
      );
    }
    assert.doesNotMatch(s.output, /stopping the others/);
    assert.ok(
      s.output.includes(`${victim.name} at ${leaderHost}, data ${dataDir}/server${n}`),
      `the dead server's name, address and data dir:\n${s.output.slice(-3000)}`,
    );
    assert.ok(s.output.includes(`type "restart ${victim.name}"`));

    // The printed command, pasted into a shell, starts it again: it rejoins and catches up on the write.
    const command = /run in another terminal:\n {2}(.+)$/m.exec(s.output)?.[1];
    assert.ok(command !== undefined, "a restart command");
    assert.ok(
      command.includes(`-node ${victim.name}`) && command.includes(`-data-dir ${dataDir}/server${n}`),
    );
    external = spawn("sh", ["-c", command], { detached: true, stdio: "ignore" });
    const externalExited = new Promise((r) => external?.on("close", r));
    await s.waitFor("restarted server serving the write", 60_000, () =>
      kvValue(s, leaderHost, "failover").then((v) => (v === "survived" ? true : undefined)),
    );
    process.kill(-external.pid!, "SIGTERM");
    await Promise.race([externalExited, sleep(20_000)]);
    assert.ok(external.exitCode !== null || external.signalCode !== null, "the pasted server stopped");
    // Its ports are free only once its process is gone: `sh` may exit first, and the agent closes its HTTP port
    // before its RPC port. `restart` refuses while either is busy, as it should.
    await s.waitFor("restarted server's ports to close", 20_000, async () =>
      (await ports.checkPorts([leaderHost], [httpPort, serverPort])).length === 0 ? true : undefined,
    );

    // `restart NAME` typed at the script starts it again under the script's watch.
    s.proc.stdin?.write(`restart ${victim.name}\n`);
    const again = await s.waitFor("restart by the script", 20_000, () =>
      s.starts().length === 4 ? s.starts()[3] : undefined,
    );
    assert.equal(again.name, victim.name);
    await s.waitFor("server restarted by the script serving the write", 60_000, () =>
      kvValue(s, leaderHost, "failover").then((v) => (v === "survived" ? true : undefined)),
    );

    // Ctrl-C stops every running server, the restarted one included.
    s.proc.kill("SIGINT");
    await Promise.race([s.exited, sleep(30_000)]);
    assert.deepEqual(s.exit, { code: 0, signal: null }, s.output.slice(-3000));
    // A server's pid disappears once it is reaped, a moment after npm start has seen it close.
    for (const x of [...survivors, again]) {
      await s.waitFor(`${x.name} (pid ${x.pid}) gone`, 5_000, () => (alive(x.pid) ? undefined : true));
    }
  });

  it("exits 1 once every server has exited", { timeout: 60_000 }, async (t) => {
    const httpPort = await freePortOnAllHosts();
    const serverPort = await freePortOnAllHosts(httpPort);
    const agentPort = await freePortOnAllHosts(serverPort);
    const dnsPort = await freePortOnAllHosts(agentPort);
    const dataDir = mkdtempSync(join(tmpdir(), "cairn-start-"));
    const s = new StartScript(httpPort, serverPort, dataDir, agentPort, dnsPort);
    t.after(() => {
      if (s.exit === null) s.proc.kill("SIGKILL");
      for (const { pid } of s.starts()) if (alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    });
    const pids = await s.waitFor("three servers", 30_000, () =>
      s.starts().length === 3 ? s.starts().map((x) => x.pid) : undefined,
    );
    process.kill(pids[0]!, "SIGKILL");
    await s.waitFor("report of the first death", 15_000, () =>
      /cairn-\d and cairn-\d keep running \(2 of 3 servers, a majority/.test(s.output) ? true : undefined,
    );
    assert.equal(s.exit, null, "one death does not end npm start");
    for (const pid of pids.slice(1)) process.kill(pid, "SIGKILL");
    await Promise.race([s.exited, sleep(15_000)]);
    assert.deepEqual(s.exit, { code: 1, signal: null }, s.output.slice(-3000));
    assert.match(s.output, /every server has exited/);
  });
});

describe("npm start -- --secure", () => {
  it("starts the datacenter with ACLs (default deny) and TLS, its secrets 0600, and says how to reach it", {
    timeout: 120_000,
  }, async (t) => {
    const httpPort = await freePortOnAllHosts();
    const serverPort = await freePortOnAllHosts(httpPort);
    const agentPort = await freePortOnAllHosts(serverPort);
    const dnsPort = await freePortOnAllHosts(agentPort);
    const httpsPort = await freePortOnAllHosts(dnsPort);
    const dataDir = mkdtempSync(join(tmpdir(), "cairn-start-secure-"));
    const s = new StartScript(httpPort, serverPort, dataDir, agentPort, dnsPort, ["--secure"], {
      CAIRN_START_HTTPS_PORT: String(httpsPort),
    });
    t.after(() => {
      if (s.exit === null) s.proc.kill("SIGKILL");
      for (const { pid } of s.starts()) if (alive(pid)) process.kill(pid, "SIGKILL");
      const agentPid = Number(/^\[snapshot-agent\] started: pid (\d+)/m.exec(s.output)?.[1] ?? 0);
      if (agentPid > 0 && alive(agentPid)) process.kill(agentPid, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    });
    await s.waitFor("the secure datacenter", 60_000, () => {
      assert.equal(s.exit, null, `npm start exited early:\n${s.output}`);
      return /^cairn is up, secure: 3 servers/m.test(s.output) ? true : undefined;
    });
    const secure = join(dataDir, "secure");
    assert.equal(statSync(secure).mode & 0o777, 0o700);
    for (const f of [
      "bootstrap-token",
      "agent.json",
      "consul-agent-ca-key.pem",
      "dc1-server-consul-0-key.pem",
    ])
      assert.equal(statSync(join(secure, f)).mode & 0o777, 0o600, f);
    // The environment it prints is enough for the CLI; without the token, the default policy denies.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const m of s.output.matchAll(/^ {2}export (CONSUL_[A-Z_]+)=(\S+)$/gm)) env[m[1]!] = m[2]!;
    assert.equal(env.CONSUL_HTTP_ADDR, `https://127.0.0.1:${httpsPort}`);
    const put = await runCairn(["kv", "put", "secure/k", "v"], 20_000, { env });
    assert.equal(put.code, 0, put.out);
    const anonymous = await runCairn(["kv", "get", "secure/k"], 20_000, {
      env: { ...env, CONSUL_HTTP_TOKEN_FILE: "" },
    });
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.out, /403 \(Permission denied: anonymous token lacks permission 'key:read'/);
    // No client certificate: the handshake is refused.
    const noCert = await runCairn(["kv", "get", "secure/k"], 20_000, {
      env: { ...env, CONSUL_CLIENT_CERT: "", CONSUL_CLIENT_KEY: "" },
    });
    assert.equal(noCert.code, 1, noCert.out);
    // The plain HTTP port is off.
    assert.equal(await httpGet(`http://127.0.0.1:${httpPort}/v1/status/leader`), undefined);
    // The snapshot agent backs up with the management token.
    await s.waitFor("a backup by the snapshot agent", 60_000, () =>
      readdirSync(join(dataDir, "backups")).some((f) => /^consul-\d{19}\.snap$/.test(f)) ? true : undefined,
    );
    s.proc.kill("SIGINT");
    await Promise.race([s.exited, sleep(20_000)]);
    assert.deepEqual(s.exit, { code: 0, signal: null }, s.output.slice(-3000));
    // Every line the servers and the snapshot agent logged went through npm start: none holds the token.
    const token = readFileSync(join(secure, "bootstrap-token"), "utf8").trim();
    assert.ok(token.length >= 36 && !s.output.includes(token), "the management token appears in the output");
  });
});

describe("npm start -- --clients 2", () => {
  it("adds two client agents on 127.0.0.4 and .5 that forward to the servers; Ctrl-C stops them too", {
    timeout: 120_000,
  }, async (t) => {
    const clientHosts = ["127.0.0.4", "127.0.0.5"];
    let httpPort = 0;
    for (let i = 0; i < 20 && httpPort === 0; i++) {
      const p = await freePortOnAllHosts();
      if ((await ports.checkPorts(clientHosts, [p])).length === 0) httpPort = p;
    }
    assert.ok(httpPort > 0, "no port free on 127.0.0.1 to .5");
    const serverPort = await freePortOnAllHosts(httpPort);
    const agentPort = await freePortOnAllHosts(serverPort);
    const dnsPort = await freePortOnAllHosts(agentPort);
    const dataDir = mkdtempSync(join(tmpdir(), "cairn-start-"));
    const s = new StartScript(httpPort, serverPort, dataDir, agentPort, dnsPort, ["--clients", "2"]);
    const clientPids = (): number[] =>
      [...s.output.matchAll(/^\[cairn-client-\d+\] client agent started: pid (\d+),/gm)].map((m) =>
        Number(m[1]),
      );
    t.after(async () => {
      if (s.exit === null) s.proc.kill("SIGKILL");
      for (const { pid } of s.starts()) if (alive(pid)) process.kill(pid, "SIGKILL");
      for (const pid of clientPids()) if (alive(pid)) process.kill(pid, "SIGKILL");
      const agentPid = Number(/^\[snapshot-agent\] started: pid (\d+)/m.exec(s.output)?.[1] ?? 0);
      if (agentPid > 0 && alive(agentPid)) process.kill(agentPid, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    });
    await s.waitFor("leader", 60_000, () => {
      assert.equal(s.exit, null, `npm start exited early:\n${s.output}`);
      return /^cairn is up: 3 servers/m.test(s.output) ? true : undefined;
    });
    assert.equal(clientPids().length, 2);
    // Both clients are members (role node) as the servers and the clients see it.
    for (const host of [...clientHosts, "127.0.0.1"]) {
      await s.waitFor(`five members on ${host}`, 30_000, async () => {
        const r = await httpGet(s.url(host, "/v1/agent/members"));
        if (r?.status !== 200) return undefined;
        const roles = (JSON.parse(r.body) as { Name: string; Tags: { role: string } }[])
          .map((m) => `${m.Name}:${m.Tags.role}`)
          .sort();
        const want = ["cairn-1:consul", "cairn-2:consul", "cairn-3:consul"];
        return JSON.stringify(roles) ===
          JSON.stringify([...want, "cairn-client-1:node", "cairn-client-2:node"])
          ? true
          : undefined;
      });
    }
    // A write through one client is read through the other.
    const put = await fetch(s.url("127.0.0.5", "/v1/kv/through/clients"), { method: "PUT", body: "yes" });
    assert.equal(await put.text(), "true");
    assert.equal(await kvValue(s, "127.0.0.4", "through/clients"), "yes");
    s.proc.kill("SIGINT");
    await Promise.race([s.exited, sleep(30_000)]);
    assert.deepEqual(s.exit, { code: 0, signal: null }, s.output.slice(-3000));
    for (const pid of clientPids()) assert.ok(!alive(pid), `client agent ${pid} still running`);
  });

  it("refuses a count that is not a number, and --secure with clients", async () => {
    const bad = spawnSync(process.execPath, [SCRIPT, "--clients", "x"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--clients takes a number of client agents from 0 to 250, not "x"/);
    const secure = spawnSync(process.execPath, [SCRIPT, "--secure", "--clients=1"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(secure.status, 1);
    assert.match(secure.stderr, /--clients cannot be used with --secure/);
  });
});
