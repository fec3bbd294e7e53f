/**
 * The throwaway server of a restore drill: a single-server cairn datacenter (`cairn agent -server
 * -bootstrap-expect 1`) as a child process, on loopback, with free ports and a data dir of its own. A child
 * process rather than a server in this one: the snapshot agent may not import the server (src/agent), and a drill
 * must share neither the agent's memory and event loop nor its fate if the restore goes badly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { ConsulClient } from "../client/index.js";
import { errorText } from "../util/errors.js";

/** How to run `cairn`: an executable and the arguments before `agent`. */
export interface CairnCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** `node <…>/src/main.js`: main.js is one folder up from this module, in dist as in any installed copy. */
export function cairnCommand(): CairnCommand {
  return { command: process.execPath, args: [fileURLToPath(new URL("../main.js", import.meta.url))] };
}

/** The end of the server's output kept for error messages. */
const OUTPUT_TAIL_CHARS = 4000;
const STOP_GRACE_MS = 10_000;
const KILL_WAIT_MS = 5_000;
const POLL_MS = 200;
const POLL_REQUEST_MS = 5_000;
/** Starts tried when another process took a free port between our probe and the server's listen. */
const PORT_ATTEMPTS = 3;

export class DrillServerError extends Error {
  override name = "DrillServerError";
}

export interface DrillServerOptions {
  readonly cairn: CairnCommand;
  /** The server's node name (it registers itself in its catalog under it, also after a restore). */
  readonly node: string;
  readonly dataDir: string;
  /** Bound on the wait for the server to lead and register itself. */
  readonly readyTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/** A running drill server and a client of its HTTP API. `stop()` exactly once, in every case. */
export class DrillServer {
  private output = "";
  private spawnError: Error | null = null;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly proc: ChildProcess,
    readonly client: ConsulClient,
    readonly address: string,
  ) {
    const out = (d: Buffer): void => {
      this.output = (this.output + d.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    proc.stdout?.on("data", out);
    proc.stderr?.on("data", out);
    // A process that could not start emits "error" and never "exit".
    proc.on("error", (e) => {
      this.spawnError = e;
    });
    this.exited = new Promise((resolve) => {
      proc.once("exit", () => resolve());
      proc.once("error", () => resolve());
    });
  }

  /**
   * Starts the server and waits until it leads and has registered itself in its catalog: the leader's own
   * registration then cannot land after (and on top of) a restore. Rejects, with the server stopped, when it
   * exits, the wait passes `readyTimeoutMs`, or `signal` fires.
   */
  static async start(o: DrillServerOptions): Promise<DrillServer> {
    for (let attempt = 1; ; attempt++) {
      const [httpPort, serverPort] = [await freePort(), await freePort()];
      const s = DrillServer.spawn(o, httpPort, serverPort);
      try {
        await s.ready(o);
        return s;
      } catch (e) {
        await s.stop();
        const portTaken = /EADDRINUSE/.test(s.output);
        if (!portTaken || attempt >= PORT_ATTEMPTS || o.signal?.aborted === true) throw e;
      }
    }
  }

  private static spawn(o: DrillServerOptions, httpPort: number, serverPort: number): DrillServer {
    const args = [
      ...o.cairn.args,
      "agent",
      "-server",
      "-bootstrap-expect",
      "1",
      "-node",
      o.node,
      "-data-dir",
      o.dataDir,
      "-bind",
      "127.0.0.1",
      "-client",
      "127.0.0.1",
      "-http-port",
      String(httpPort),
      "-server-port",
      String(serverPort),
      // A throwaway server answers no DNS (and must not take the default port 8600 from a real agent).
      "-dns-port=-1",
    ];
    // The agent's own settings (CONSUL_HTTP_TOKEN, CAIRN_*) are not the throwaway server's.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(CONSUL|CAIRN)_/.test(k)));
    // Its stdin is a pipe from this process: if the snapshot agent dies (kill -9), the pipe closes and the
    // throwaway server stops itself instead of running on as an orphan.
    env.CAIRN_STOP_ON_STDIN_END = "1";
    const proc = spawn(o.cairn.command, args, { stdio: ["pipe", "pipe", "pipe"], env });
    const address = `127.0.0.1:${httpPort}`;
    return new DrillServer(proc, new ConsulClient({ address, requestTimeoutMs: POLL_REQUEST_MS }), address);
  }

  private async ready(o: DrillServerOptions): Promise<void> {
    const deadline = Date.now() + o.readyTimeoutMs;
    let last = "no answer yet";
    for (;;) {
      if (this.spawnError !== null) {
        throw new DrillServerError(`cannot start ${o.cairn.command}: ${errorText(this.spawnError)}`);
      }
      if (this.hasExited()) throw new DrillServerError(`the drill server exited early: ${this.tail()}`);
      if (o.signal?.aborted === true) throw new DrillServerError("aborted");
      try {
        if ((await this.client.catalogNodes()).some((n) => n.node === o.node)) return;
        last = "elected, not yet in its own catalog";
      } catch (e) {
        last = errorText(e);
      }
      if (Date.now() > deadline) {
        throw new DrillServerError(
          `the drill server did not become ready within ${o.readyTimeoutMs} ms (${last}): ${this.tail()}`,
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  private hasExited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  /** The end of the server's output, on one line, for an error message. */
  private tail(): string {
    const t = this.output.trim().split("\n").slice(-5).join(" | ");
    return t === "" ? "(no output)" : t;
  }

  /** Ends the server without waiting (an abort): whatever request is in flight then fails. */
  kill(): void {
    if (!this.hasExited()) this.proc.kill("SIGTERM");
  }

  /** SIGTERM, SIGKILL after a grace period; resolves once the process is gone (or the kill wait ends). */
  async stop(): Promise<void> {
    this.client.close();
    if (this.proc.pid !== undefined && !this.hasExited()) {
      this.proc.kill("SIGTERM");
      if (!(await within(this.exited, STOP_GRACE_MS))) {
        this.proc.kill("SIGKILL");
        await within(this.exited, KILL_WAIT_MS);
      }
    }
    this.proc.stdout?.destroy();
    this.proc.stderr?.destroy();
  }
}

/** True when `p` settles within `ms`. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A port free on 127.0.0.1 right now (listen on 0, close); the server may still lose it to a race. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
