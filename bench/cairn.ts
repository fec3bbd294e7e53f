import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "./etcd.js";

const MAIN = resolve(fileURLToPath(import.meta.url), "..", "..", "src", "main.js");

export interface CairnCluster {
  /** HTTP base URLs, one per server. */
  readonly endpoints: readonly string[];
  /** HTTPS base URLs, one per server, when started with `https`. */
  readonly httpsEndpoints: readonly string[];
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** What else the servers run with: a config file's settings, and an HTTPS port each (their `ports.https`). */
export interface CairnClusterOptions {
  readonly config?: Readonly<Record<string, unknown>>;
  readonly https?: boolean;
  /** Node's own flags for every server, before the script (e.g. --cpu-prof, --expose-gc, --import). */
  readonly nodeArgs?: readonly string[];
  /** Added to this process's environment for every server. */
  readonly env?: Readonly<Record<string, string>>;
  /** Where each server's stdout goes (`s<i>.out` in `dir`) instead of nowhere: for --trace-gc and the like. */
  readonly keepStdout?: boolean;
}

/**
 * Starts a cairn datacenter on 127.0.0.1 with free ports (data in `dir`), waiting for a leader. With `https`,
 * `httpsEndpoints` lists each server's HTTPS API (the config must hold the tls settings).
 */
export async function startCairnCluster(
  dir: string,
  servers = 3,
  o: CairnClusterOptions = {},
): Promise<CairnCluster> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ports = await freePorts(servers * 2);
  const httpsPorts = o.https === true ? await freePorts(servers) : [];
  const join_ = Array.from({ length: servers }, (_, i) => [
    "-retry-join",
    `127.0.0.1:${ports[2 * i + 1]}`,
  ]).flat();
  const procs: ChildProcess[] = [];
  for (let i = 0; i < servers; i++) {
    const args = [
      ...(o.nodeArgs ?? []),
      MAIN,
      "agent",
      "-server",
      "-bootstrap-expect",
      String(servers),
      "-node",
      `b${i}`,
    ];
    args.push(
      "-bind",
      "127.0.0.1",
      "-client",
      "127.0.0.1",
      "-log-level",
      "warn",
      "-data-dir",
      join(dir, `s${i}`),
    );
    args.push(
      "-http-port",
      String(ports[2 * i]),
      "-server-port",
      String(ports[2 * i + 1]),
      "-dns-port=-1",
      ...join_,
    );
    if (o.config !== undefined || o.https === true) {
      const file = join(dir, `s${i}.json`);
      const https = o.https === true ? { ports: { https: httpsPorts[i] } } : {};
      writeFileSync(file, JSON.stringify({ ...o.config, ...https }));
      args.push("-config-file", file);
    }
    const env = { ...process.env, ...o.env };
    const stdout = o.keepStdout === true ? openSync(join(dir, `s${i}.out`), "w") : "ignore";
    procs.push(spawn(process.execPath, args, { stdio: ["ignore", stdout, "inherit"], env }));
    if (typeof stdout === "number") closeSync(stdout); // the child holds its own copy
  }
  const endpoints = Array.from({ length: servers }, (_, i) => `http://127.0.0.1:${ports[2 * i]}`);
  const httpsEndpoints = httpsPorts.map((p) => `https://127.0.0.1:${p}`);
  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((res) => {
            if (p.exitCode !== null) return res();
            const t = setTimeout(() => p.kill("SIGKILL"), 5000);
            p.once("exit", () => {
              clearTimeout(t);
              res();
            });
            p.kill("SIGTERM");
          }),
      ),
    );
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const leader = await fetch(`${endpoints[0]}/v1/status/leader`)
      .then((r) => r.json() as Promise<string>)
      .catch(() => "");
    if (leader !== "") break;
    if (Date.now() > deadline) {
      await stop(); // the caller gets no handle to stop them with
      throw new Error("cairn elected no leader within 30 s");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoints, httpsEndpoints, pids: procs.map((p) => p.pid ?? 0), stop };
}
