#!/usr/bin/env node
/**
 * `npm start`: a local three-server datacenter on 127.0.0.1, 127.0.0.2 and 127.0.0.3, each with Consul's default
 * ports (HTTP 8500, server RPC 8300), so addresses look as in production and the CLI's default address works
 * (docs/consul-compat.md §9). Builds first when src/ is newer than dist/. Data persists in ./.cairn between
 * runs. Plain JavaScript: it must run before the build it decides about.
 *
 * A server that dies (say `kill -9`, to watch a failover) leaves the others running: the script names it and
 * prints how to start it again, either by typing `restart <name>` here (the script starts and watches it again)
 * or with a command to paste in another terminal. Ctrl-C or SIGTERM stops every running server; when every
 * server has exited, the script exits with 1.
 *
 * Once there is a leader, a snapshot agent joins them: a verified backup every 5 minutes into ./.cairn/backups,
 * keeping 12, with its /metrics and /health on 127.0.0.1:8510.
 *
 * For tests, CAIRN_START_HTTP_PORT, CAIRN_START_SERVER_PORT, CAIRN_START_AGENT_PORT and CAIRN_START_DATA_DIR (a
 * directory holding server1..3 and backups) replace 8500, 8300, 8510 and ./.cairn.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { checkPorts } from "./ports.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const MAIN = join(ROOT, "dist", "src", "main.js");
/** The agent entry point as children are given it: relative to ROOT, their working directory. */
const MAIN_ARG = join("dist", "src", "main.js");
const DEFAULT_HTTP_PORT = 8500;
const DEFAULT_SERVER_PORT = 8300;
const HTTP_PORT = portFromEnv("CAIRN_START_HTTP_PORT", DEFAULT_HTTP_PORT);
const SERVER_PORT = portFromEnv("CAIRN_START_SERVER_PORT", DEFAULT_SERVER_PORT);
const DEFAULT_DNS_PORT = 8600;
const DNS_PORT = portFromEnv("CAIRN_START_DNS_PORT", DEFAULT_DNS_PORT);
const DATA_DIR = process.env.CAIRN_START_DATA_DIR || "./.cairn";
/** The snapshot agent's /metrics and /health: beside Consul's ports (8500 HTTP, 8501 HTTPS, 8502-8503 gRPC). */
const AGENT_PORT = portFromEnv("CAIRN_START_AGENT_PORT", 8510);
const BACKUP_DIR = `${DATA_DIR}/backups`;
const BACKUP_INTERVAL = "5m";
const BACKUP_RETAIN = 12;
const SERVERS = [1, 2, 3].map((n) => ({
  name: `cairn-${n}`,
  host: `127.0.0.${n}`,
  dataDir: `${DATA_DIR}/server${n}`,
}));
const LEADER_WAIT_MS = 30_000;
const LEADER_POLL_MS = 250;
const STOP_WAIT_MS = 10_000;
const KILL_WAIT_MS = 3_000;

/** Newest mtime (ms) of the files under `dir`, or 0 when it does not exist. */
function newestMtimeMs(dir) {
  if (!existsSync(dir)) return 0;
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfStale() {
  const sources = Math.max(
    ...["src", "test", "bench"].map((d) => newestMtimeMs(join(ROOT, d))),
    statSync(join(ROOT, "tsconfig.json")).mtimeMs,
  );
  const built = newestMtimeMs(join(ROOT, "dist"));
  if (built !== 0 && built >= sources) return;
  console.log(built === 0 ? "dist/ is missing: building" : "src/ is newer than dist/: building");
  const r = spawnSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) fail(`the build failed (npx tsc -p tsconfig.json exited with ${r.status ?? r.signal})`);
  // tsc writes plain files; the `cairn` bin must be executable for `npx cairn`.
  chmodSync(join(ROOT, "dist", "src", "main.js"), 0o755);
}

function portFromEnv(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${name}=${text} is not a port number`);
  return port;
}

function fail(message) {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

/** The `agent` arguments for server `s`; the default ports are left implicit, as a user would type them. */
function agentArgs(s) {
  const portFlags = [
    ...(HTTP_PORT === DEFAULT_HTTP_PORT ? [] : ["-http-port", String(HTTP_PORT)]),
    ...(SERVER_PORT === DEFAULT_SERVER_PORT ? [] : ["-server-port", String(SERVER_PORT)]),
    ...(DNS_PORT === DEFAULT_DNS_PORT ? [] : ["-dns-port", String(DNS_PORT)]),
  ];
  const joinAddr = (host) => (SERVER_PORT === DEFAULT_SERVER_PORT ? host : `${host}:${SERVER_PORT}`);
  return [
    MAIN_ARG,
    "agent",
    "-server",
    "-bootstrap-expect",
    "3",
    "-node",
    s.name,
    "-bind",
    s.host,
    "-client",
    s.host,
    "-data-dir",
    s.dataDir,
    ...portFlags,
    ...SERVERS.flatMap((peer) => ["-retry-join", joinAddr(peer.host)]),
  ];
}

/** `word` as a POSIX shell reads it back: unchanged when it has no special characters, else single-quoted. */
function shellQuote(word) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** A command line that starts server `s` again, outside this script, from any working directory. */
function restartCommand(s) {
  return `cd ${shellQuote(ROOT)} && ${[process.execPath, ...agentArgs(s)].map(shellQuote).join(" ")}`;
}

/** Copies a child's stream line by line with its name in front, so three servers' logs stay readable. */
function prefixLines(stream, name, out) {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
    out.write(`[${name}] ${line}\n`);
  });
}

const children = new Map();
let stopping = false;
/** The snapshot agent's process, once started; not a server, so not in `children`. */
let backupAgent = null;

/** The snapshot agent against the local datacenter: one daemon, local disk, its listener on AGENT_PORT. */
function startBackupAgent() {
  const args = [
    MAIN_ARG,
    "snapshot",
    "agent",
    "-http-addr",
    `127.0.0.1:${HTTP_PORT}`,
    "-interval",
    BACKUP_INTERVAL,
  ];
  args.push(
    "-retain",
    String(BACKUP_RETAIN),
    "-local-path",
    BACKUP_DIR,
    "-listen",
    `127.0.0.1:${AGENT_PORT}`,
  );
  mkdirSync(resolve(ROOT, BACKUP_DIR), { recursive: true });
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  backupAgent = child;
  console.log(`[snapshot-agent] started: pid ${child.pid}, /metrics and /health on 127.0.0.1:${AGENT_PORT}`);
  prefixLines(child.stdout, "snapshot-agent", process.stdout);
  prefixLines(child.stderr, "snapshot-agent", process.stderr);
  child.on("close", (code, signal) => {
    if (backupAgent === child) backupAgent = null;
    if (stopping) return;
    const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
    console.error(`[snapshot-agent] exited unexpectedly (${how}); the servers keep running`);
  });
}

function startServer(s) {
  mkdirSync(resolve(ROOT, s.dataDir), { recursive: true });
  const child = spawn(process.execPath, agentArgs(s), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.set(s.name, child);
  console.log(
    `[${s.name}] started: pid ${child.pid}, HTTP ${s.host}:${HTTP_PORT}, RPC ${s.host}:${SERVER_PORT}, data ${s.dataDir}`,
  );
  prefixLines(child.stdout, s.name, process.stdout);
  prefixLines(child.stderr, s.name, process.stderr);
  // "close", not "exit": it comes after the pipes drain, so a dying server's last lines are printed.
  child.on("close", (code, signal) => {
    if (children.get(s.name) === child) children.delete(s.name);
    if (stopping) return;
    serverDied(s, code, signal);
  });
}

/** A server exited on its own (crash, kill -9): the others keep running; say how to bring it back. */
function serverDied(s, code, signal) {
  const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
  console.error(`[${s.name}] exited unexpectedly (${how}): ${s.name} at ${s.host}, data ${s.dataDir}`);
  if (children.size === 0) {
    console.error("npm start: every server has exited");
    stopping = true;
    backupAgent?.kill("SIGTERM");
    process.exit(1);
  }
  const running = [...children.keys()];
  const quorum =
    running.length * 2 > SERVERS.length
      ? "a majority: writes go on once they have a leader"
      : "no majority: no leader and no writes until another server is back";
  console.error(
    [
      `npm start: ${running.join(" and ")} ${running.length === 1 ? "keeps" : "keep"} running ` +
        `(${running.length} of ${SERVERS.length} servers, ${quorum}).`,
      `To start ${s.name} again, type "restart ${s.name}" and Enter here, or run in another terminal:`,
      `  ${restartCommand(s)}`,
    ].join("\n"),
  );
}

/** `restart NAME` (or `restart` for every stopped server) typed on stdin starts a stopped server again. */
async function restartFromInput(line) {
  const words = line.trim().split(/\s+/);
  if (words[0] === "" || stopping) return;
  if (words[0] !== "restart" || words.length > 2) {
    console.error(
      'npm start: type "restart NAME" (or "restart" for every stopped server), or Ctrl-C to stop',
    );
    return;
  }
  const targets =
    words.length === 2
      ? SERVERS.filter((s) => s.name === words[1])
      : SERVERS.filter((s) => !children.has(s.name));
  if (words.length === 2 && targets.length === 0) {
    console.error(`npm start: no server named ${words[1]} (${SERVERS.map((s) => s.name).join(", ")})`);
    return;
  }
  if (targets.length === 0) console.error("npm start: every server is running");
  for (const s of targets) {
    const child = children.get(s.name);
    if (child !== undefined) {
      console.error(`npm start: ${s.name} is running (pid ${child.pid})`);
      continue;
    }
    const problems = await checkPorts([s.host], [HTTP_PORT, SERVER_PORT]);
    if (stopping) return;
    if (problems.length > 0) {
      for (const p of problems) console.error(p);
      console.error(`npm start: not restarting ${s.name} (was it started in another terminal?)`);
      continue;
    }
    startServer(s);
  }
}

/** SIGTERM to every child, then SIGKILL to any still running after STOP_WAIT_MS; exits with `code`. */
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  if (children.size > 0) console.error(`npm start: stopping ${[...children.keys()].join(", ")}`);
  for (const child of children.values()) child.kill("SIGTERM");
  backupAgent?.kill("SIGTERM");
  const deadline = Date.now() + STOP_WAIT_MS;
  while ((children.size > 0 || backupAgent !== null) && Date.now() < deadline) await sleep(100);
  backupAgent?.kill("SIGKILL");
  for (const [name, child] of children) {
    console.error(`[${name}] did not stop within ${STOP_WAIT_MS / 1000} s: killing it`);
    child.kill("SIGKILL");
  }
  // A killed child is gone only once it has been reaped: wait (bounded) for its close before exiting.
  const killDeadline = Date.now() + KILL_WAIT_MS;
  while ((children.size > 0 || backupAgent !== null) && Date.now() < killDeadline) await sleep(50);
  process.exit(code);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The leader's address once `GET /v1/status/leader` names one (Consul answers `""` while there is none), asking
 * each running server in turn so one that died early does not hide the others' leader.
 */
async function waitForLeader() {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (let i = 0; Date.now() < deadline && !stopping; i++) {
    const running = SERVERS.filter((s) => children.has(s.name));
    const host = running.length > 0 ? running[i % running.length].host : SERVERS[0].host;
    try {
      const res = await fetch(`http://${host}:${HTTP_PORT}/v1/status/leader`, {
        signal: AbortSignal.timeout(1000),
      });
      const leader = res.ok ? await res.json() : "";
      if (typeof leader === "string" && leader !== "") return leader;
    } catch {
      // Not listening yet, or mid-election: keep polling until the deadline.
    }
    await sleep(LEADER_POLL_MS);
  }
  return null;
}

function printNextSteps(leader) {
  const addr =
    HTTP_PORT === DEFAULT_HTTP_PORT ? [] : [`  export CONSUL_HTTP_ADDR=http://127.0.0.1:${HTTP_PORT}`];
  console.log(
    [
      "",
      `cairn is up: 3 servers, leader ${leader}. Data lives in ${DATA_DIR} (kept between runs). Try:`,
      "",
      ...addr,
      "  npx cairn kv put hello world",
      "  npx cairn kv get hello",
      "  npx cairn operator raft list-peers",
      `  curl http://127.0.0.1:${HTTP_PORT}/v1/kv/hello`,
      "",
      `A snapshot agent saves a verified backup every 5 minutes into ${BACKUP_DIR} (keeping ${BACKUP_RETAIN}):`,
      `  curl http://127.0.0.1:${AGENT_PORT}/health   and   curl http://127.0.0.1:${AGENT_PORT}/metrics`,
      "",
      "Press Ctrl-C to stop all three servers. If one dies (try kill -9 on the leader's pid to watch a",
      'failover), the others keep running; type "restart NAME" here to start it again.',
      "",
    ].join("\n"),
  );
}

async function main() {
  buildIfStale();
  if (!existsSync(MAIN)) {
    fail(
      "dist/src/main.js is missing after the build: the `agent` entry point (src/main.ts) is not written yet",
    );
  }
  const problems = [
    ...(await checkPorts(
      SERVERS.map((s) => s.host),
      [HTTP_PORT, SERVER_PORT],
    )),
    ...(await checkPorts(["127.0.0.1"], [AGENT_PORT])),
  ];
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    process.exit(1);
  }
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));
  // terminal: false keeps the tty in cooked mode, so Ctrl-C still reaches this process and the servers as SIGINT.
  createInterface({ input: process.stdin, terminal: false }).on(
    "line",
    (line) => void restartFromInput(line),
  );
  for (const s of SERVERS) startServer(s);
  const leader = await waitForLeader();
  if (stopping) return;
  if (leader === null) {
    console.error(
      `npm start: no leader after ${LEADER_WAIT_MS / 1000} s; the servers keep running (see their logs)`,
    );
    return;
  }
  startBackupAgent();
  printNextSteps(leader);
}

await main();
