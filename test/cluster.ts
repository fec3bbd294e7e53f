import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Real-process test harness: cairn agents as child processes on 127.0.0.1 with free ports and temp data dirs. */
const MAIN = resolve(fileURLToPath(import.meta.url), "..", "..", "src", "main.js");

/**
 * A free port for a child process to bind later. Picked at random below the kernel's ephemeral range (32768+ on
 * Linux), and checked free by binding it: a port the system handed out for `listen(0)` could be handed to another
 * test's socket between this check and the child's bind (seen as EADDRINUSE under `npm test`'s parallel files),
 * while ports below that range are only ever taken by explicit picks like this one.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canBind(port)) return port;
  }
  throw new Error("no free port found below the ephemeral range in 50 tries");
}

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

export interface Agent {
  readonly name: string;
  readonly http: string;
  readonly rpcPort: number;
  readonly dataDir: string;
  /** The DNS interface's port, when the cluster was started with DNS (`-dns-port`); else DNS is off. */
  dnsPort: number | null;
  proc: ChildProcess | null;
  output: string;
  /** A client agent (no -server): it joins the cluster's servers and forwards to them. */
  readonly client?: boolean;
  /** Arguments for this agent alone (after the cluster's extraArgs). */
  readonly args?: readonly string[];
}

export class Cluster {
  readonly agents: Agent[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), "cairn-test-"));
  private joinAddrs: string[] = [];
  /** Extra agent arguments for every server (e.g. -config-file). */
  extraArgs: string[] = [];
  /** Give each server a DNS interface on a free port (otherwise -dns-port -1: Consul's 8600 is shared). */
  withDns = false;

  static async start(
    n: number,
    expect = n,
    extraArgs: string[] = [],
    opts: {
      readonly dns?: boolean;
      /** One WAN port per server (`-serf-wan-port`), for datacenters joined over the WAN. */
      readonly wanPorts?: readonly number[];
      /** WAN addresses of other datacenters' servers, given to every server (`-retry-join-wan`). */
      readonly wanJoin?: readonly string[];
    } = {},
  ): Promise<Cluster> {
    const c = new Cluster();
    c.extraArgs = extraArgs;
    c.withDns = opts.dns ?? false;
    const dnsPorts = c.withDns ? await Promise.all(Array.from({ length: n }, () => freePort())) : [];
    const ports = await Promise.all(Array.from({ length: n * 2 }, () => freePort()));
    c.joinAddrs = Array.from({ length: n }, (_, i) => `127.0.0.1:${ports[2 * i + 1]}`);
    for (let i = 0; i < n; i++) {
      const wan = opts.wanPorts?.[i];
      const joins = (opts.wanJoin ?? []).flatMap((j) => ["-retry-join-wan", j]);
      const more = wan === undefined ? {} : { args: ["-serf-wan-port", String(wan), ...joins] };
      c.agents.push(c.define(`s${i}`, ports[2 * i]!, ports[2 * i + 1]!, dnsPorts[i] ?? null, more));
    }
    for (const a of c.agents) c.launch(a, expect);
    return c;
  }

  private define(
    name: string,
    httpPort: number,
    rpcPort: number,
    dnsPort: number | null,
    more: { readonly client?: boolean; readonly args?: readonly string[] } = {},
  ): Agent {
    return {
      ...more,
      name,
      http: `http://127.0.0.1:${httpPort}`,
      rpcPort,
      dnsPort,
      dataDir: join(this.dir, name),
      proc: null,
      output: "",
    };
  }

  /** Adds a server that joins the running cluster through -retry-join (no -bootstrap-expect). */
  async addServer(name: string): Promise<Agent> {
    const a = this.define(name, await freePort(), await freePort(), this.withDns ? await freePort() : null);
    this.agents.push(a);
    this.launch(a, 0);
    return a;
  }

  /**
   * Adds a client agent (no -server) that finds the servers through -retry-join. Its rpcPort is 0: a client
   * listens on no server RPC port.
   */
  async addClient(name: string, args: readonly string[] = []): Promise<Agent> {
    const a = this.define(name, await freePort(), 0, null, { client: true, args });
    this.agents.push(a);
    this.launch(a, 0);
    // A client's heartbeats start before its HTTP listener, so the servers may list it alive before its API
    // answers: a test starts using it only once it answers (any status: ACLs may refuse the request).
    await waitFor(`${name} answering HTTP`, 30_000, () => answers(`${a.http}/v1/agent/self`));
    return a;
  }

  /** The server agents (those not added by addClient). */
  get servers(): Agent[] {
    return this.agents.filter((a) => a.client !== true);
  }

  launch(a: Agent, expect: number): void {
    const port = new URL(a.http).port;
    const mode = a.client === true ? [] : ["-server"];
    const args = [MAIN, "agent", ...mode, "-node", a.name, "-bind", "127.0.0.1", "-client", "127.0.0.1"];
    if (a.client !== true) args.push("-server-port", String(a.rpcPort));
    args.push(
      "-http-port",
      port,
      "-data-dir",
      a.dataDir,
      "-log-level",
      "info",
      "-dns-port",
      String(a.dnsPort ?? -1),
      ...this.extraArgs,
      ...(a.args ?? []),
    );
    if (expect > 0) args.push("-bootstrap-expect", String(expect));
    for (const j of this.joinAddrs) args.push("-retry-join", j);
    const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    a.proc = proc;
    proc.stdout?.on("data", (d: Buffer) => {
      a.output += d.toString();
    });
    proc.stderr?.on("data", (d: Buffer) => {
      a.output += d.toString();
    });
    proc.on("exit", () => {
      if (a.proc === proc) a.proc = null;
    });
  }

  /** SIGTERM, and wait (bounded) for the exit. */
  async stopAgent(a: Agent): Promise<void> {
    const p = a.proc;
    if (p === null || p.exitCode !== null) return;
    await new Promise<void>((res) => {
      const t = setTimeout(() => p.kill("SIGKILL"), 5000);
      p.once("exit", () => {
        clearTimeout(t);
        res();
      });
      p.kill("SIGTERM");
    });
    a.proc = null;
  }

  kill9(a: Agent): void {
    a.proc?.kill("SIGKILL");
    a.proc = null;
  }

  async leader(timeoutMs = 15_000): Promise<Agent> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const a of this.agents) {
        if (a.proc === null || a.client === true) continue;
        const self = await getJson(a, "/v1/agent/self").catch(() => null);
        const stats = (self as { Stats?: { consul?: { leader?: string } } } | null)?.Stats;
        if (stats?.consul?.leader === "true") return a;
      }
      await sleep(100);
    }
    throw new Error(
      `no leader within ${timeoutMs} ms\n${this.agents.map((a) => `--- ${a.name}\n${a.output}`).join("\n")}`,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => this.stopAgent(a)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `f` every 200 ms until it returns a value, at most `ms`. */
/** true once `url` gives any HTTP answer; undefined while nothing listens (for waitFor). */
async function answers(url: string): Promise<true | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return true;
  } catch {
    return undefined;
  }
}

export async function waitFor<T>(
  what: string,
  ms: number,
  f: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

export async function getJson(a: Agent, path: string): Promise<unknown> {
  const r = await fetch(a.http + path, { signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

export async function put(a: Agent, key: string, value: string): Promise<Response> {
  return fetch(`${a.http}/v1/kv/${key}`, { method: "PUT", body: value, signal: AbortSignal.timeout(10_000) });
}

/** Runs node dist/src/main.js with args (in `opts.cwd`, with `opts.env`); resolves with exit code and output. */
export function runCairn(
  args: readonly string[],
  timeoutMs = 20_000,
  opts: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], ...opts });
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("exit", (code) => {
      clearTimeout(t);
      res({ code, out });
    });
  });
}
