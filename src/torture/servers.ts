/**
 * The torture's datacenter: real `cairn agent` processes, each behind its proxy (proxy.ts), with its log in a
 * file of the run's directory (kept when the run fails). Server i listens for RPC on `127.<net>.2.<i+1>` and
 * advertises `127.<net>.1.<i+1>`, the proxy's address; `<net>` is drawn per run so concurrent runs on the
 * machine do not share addresses. HTTP is on 127.0.0.1 at a free port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Rng } from "../util/rng.js";
import { ProxyNet } from "./proxy.js";

const MAIN = resolve(fileURLToPath(import.meta.url), "..", "..", "main.js");
const CLOCK_PRELOAD = new URL("./clock-preload.js", import.meta.url).href;
const DISK_PRELOAD = new URL("./disk-preload.js", import.meta.url).href;

export interface Server {
  readonly name: string;
  readonly http: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Where the clock fault writes this server's wall-clock offset (clock-preload.ts). */
  readonly clockFile: string;
  /** The disk fault's control file and sync journal for this server (disk-preload.ts). */
  readonly diskFile: string;
  readonly diskJournal: string;
  readonly args: readonly string[];
  proc: ChildProcess | null;
  paused: boolean;
}

/** Environment variables passed to every agent (the test-only fault knobs). */
export type AgentEnv = Readonly<Record<string, string>>;

export class Datacenter {
  readonly servers: Server[] = [];
  readonly net = new ProxyNet();
  private forget = (): void => {};

  private constructor(
    readonly dir: string,
    private readonly env: AgentEnv,
    /** Load clock-preload.ts into every agent, so the clock fault can jump its wall clock. */
    private readonly clock: boolean,
    /** Load disk-preload.ts into every agent, so the disk fault can fail its fsyncs and lose unsynced writes. */
    private readonly disk: boolean,
  ) {}

  static async start(
    dir: string,
    n: number,
    netOctet: number,
    env: AgentEnv = {},
    opts: { readonly clock?: boolean; readonly disk?: boolean } = {},
  ): Promise<Datacenter> {
    const dc = new Datacenter(dir, env, opts.clock ?? false, opts.disk ?? false);
    // However this process ends (an exception, a signal turned into exit), no agent outlives it.
    const killAll = (): void => {
      for (const s of dc.servers) {
        s.proc?.kill("SIGKILL");
        s.proc?.kill("SIGCONT");
      }
    };
    process.once("exit", killAll);
    dc.forget = () => process.off("exit", killAll);
    const advertise = (i: number): string => `127.${netOctet}.1.${i + 1}`;
    const bind = (i: number): string => `127.${netOctet}.2.${i + 1}`;
    const rpcPorts: number[] = [];
    for (let i = 0; i < n; i++) rpcPorts.push(await freePort([advertise(i), bind(i)]));
    const join_ = rpcPorts.flatMap((p, i) => ["-retry-join", `${advertise(i)}:${p}`]);
    for (let i = 0; i < n; i++) {
      const name = `s${i}`;
      await dc.net.add(name, advertise(i), bind(i), rpcPorts[i]!);
      const httpPort = await freePort(["127.0.0.1"]);
      const dataDir = join(dir, name);
      const args = [
        MAIN,
        "agent",
        "-server",
        "-node",
        name,
        "-bind",
        bind(i),
        "-advertise",
        advertise(i),
        "-client",
        "127.0.0.1",
        "-http-port",
        String(httpPort),
        "-server-port",
        String(rpcPorts[i]),
        "-dns-port",
        "-1",
        "-data-dir",
        dataDir,
        "-log-level",
        "info",
        "-bootstrap-expect",
        String(n),
        ...join_,
      ];
      dc.servers.push({
        name,
        http: `http://127.0.0.1:${httpPort}`,
        dataDir,
        logFile: join(dir, `${name}.log`),
        clockFile: join(dir, `${name}.clock`),
        diskFile: join(dir, `${name}.disk`),
        diskJournal: join(dir, `${name}.synced`),
        args,
        proc: null,
        paused: false,
      });
    }
    for (const s of dc.servers) dc.launch(s);
    return dc;
  }

  /** Starts (or restarts, on the same data dir) a server; its output is appended to its log file. */
  launch(s: Server): void {
    const fd = openSync(s.logFile, "a");
    const nodeArgs = [
      ...(this.clock ? ["--import", CLOCK_PRELOAD] : []),
      ...(this.disk ? ["--import", DISK_PRELOAD] : []),
    ];
    const env = {
      ...process.env,
      ...this.env,
      ...(this.clock ? { CAIRN_TORTURE_CLOCK_FILE: s.clockFile } : {}),
      ...(this.disk
        ? { CAIRN_TORTURE_DISK_FILE: s.diskFile, CAIRN_TORTURE_DISK_JOURNAL: s.diskJournal }
        : {}),
    };
    const proc = spawn(process.execPath, [...nodeArgs, ...s.args], { stdio: ["ignore", fd, fd], env });
    closeSync(fd);
    s.proc = proc;
    s.paused = false;
    proc.on("exit", () => {
      if (s.proc === proc) s.proc = null;
    });
  }

  kill9(s: Server): void {
    s.proc?.kill("SIGKILL");
    s.proc = null;
    s.paused = false;
  }

  pause(s: Server): void {
    if (s.proc === null || s.paused) return;
    s.proc.kill("SIGSTOP");
    s.paused = true;
  }

  resume(s: Server): void {
    if (s.proc === null || !s.paused) return;
    s.proc.kill("SIGCONT");
    s.paused = false;
  }

  /** Sets the server's wall clock `offsetMs` from true time (it keeps it across restarts); needs `clock`. */
  jumpClock(s: Server, offsetMs: number): void {
    if (!this.clock) throw new Error("jumpClock: the datacenter was started without the clock fault");
    writeFileSync(s.clockFile, `${offsetMs}\n`);
    s.proc?.kill("SIGUSR2");
  }

  /**
   * Makes the server's monotonic clock and timers run at `rate` of true speed (1: true); needs `clock` and the
   * agents' env CAIRN_TORTURE_DRIFT=1 (only the deliberate bug `clock-drift` sets it: clock-preload.ts).
   */
  driftClock(s: Server, rate: number): void {
    if (!this.clock || this.env.CAIRN_TORTURE_DRIFT !== "1")
      throw new Error("driftClock: the datacenter was started without clock drift");
    writeFileSync(s.clockFile, `0 ${rate}\n`);
    s.proc?.kill("SIGUSR2");
  }

  /** Arms (or disarms) fsync errors on the server's disk; needs `disk`. */
  failSyncs(s: Server, fail: boolean): void {
    if (!this.disk) throw new Error("failSyncs: the datacenter was started without the disk fault");
    writeFileSync(s.diskFile, fail ? "fsync-error\n" : "ok\n");
    s.proc?.kill("SIGUSR2");
  }

  /**
   * A power cut: kill -9, then every WAL segment loses what no sync covered (cut back to a length between its
   * last synced size, from the journal, and its current one: lost or torn). Returns the bytes cut.
   */
  losePower(s: Server, rng: Rng): number {
    if (!this.disk) throw new Error("losePower: the datacenter was started without the disk fault");
    this.kill9(s);
    // The preload journals every WAL sync; a WAL without a journal means it is not loaded, and cutting then would
    // destroy synced data: a broken torture, not a power cut.
    if (!existsSync(s.diskJournal)) {
      const wal = join(s.dataDir, "raft", "wal");
      if (existsSync(wal) && readdirSync(wal).length > 0)
        throw new Error(`losePower: ${s.name} has a WAL but no sync journal`);
      return 0;
    }
    return cutUnsynced(join(s.dataDir, "raft", "wal"), readFileSync(s.diskJournal, "utf8"), rng);
  }

  /** Every server running and not paused, every link healed, every clock true, every disk sound. */
  healAll(): void {
    this.net.healAll();
    for (const s of this.servers) {
      if (this.clock) writeFileSync(s.clockFile, "0\n");
      if (this.disk) writeFileSync(s.diskFile, "ok\n");
      if (s.proc === null) this.launch(s);
      else {
        this.resume(s);
        if (this.clock || this.disk) s.proc?.kill("SIGUSR2");
      }
    }
  }

  /** Kills every process (a paused one is continued first so it can die) and closes the proxies. */
  async stop(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const s of this.servers) {
      const p = s.proc;
      if (p === null || p.exitCode !== null) continue;
      exits.push(new Promise((res) => p.once("exit", () => res())));
      p.kill("SIGKILL");
      p.kill("SIGCONT");
      s.proc = null;
    }
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 10_000))]);
    await this.net.stop();
    this.forget();
  }
}

/** A port free on every one of `hosts` (checked by binding each), below the ephemeral range like test/cluster.ts. */
async function freePort(hosts: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    let free = true;
    for (const h of hosts) free = free && (await canBind(h, port));
    if (free) return port;
  }
  throw new Error(`no port free on ${hosts.join(", ")} in 50 tries`);
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

/**
 * Cuts every WAL segment in `walDir` back to a length between its last synced size in `journal` (disk-preload.ts
 * lines `<size> <path>`; none: 0) and its current size: what no sync covered is lost, or torn half the time.
 * Returns the bytes cut.
 */
export function cutUnsynced(walDir: string, journal: string, rng: Rng): number {
  const synced = new Map<string, number>();
  for (const line of journal.split("\n")) {
    const at = line.indexOf(" ");
    if (at > 0) synced.set(line.slice(at + 1), Number(line.slice(0, at)));
  }
  let names: string[];
  try {
    names = readdirSync(walDir).filter((n) => n.endsWith(".wal"));
  } catch {
    return 0; // no WAL yet
  }
  let cut = 0;
  for (const name of names) {
    const path = resolve(walDir, name);
    const size = statSync(path).size;
    const durable = Math.min(synced.get(path) ?? 0, size);
    if (size === durable) continue;
    const keep = rng.chance(0.5) ? durable : rng.int(durable, size + 1);
    truncateSync(path, keep);
    cut += size - keep;
  }
  return cut;
}
