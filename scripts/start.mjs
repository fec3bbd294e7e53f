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
 * `npm start -- --secure` starts the same datacenter with ACLs (default deny) and TLS: HTTPS only (8501) with
 * client certificates required, mutual TLS between servers with their names checked. The first secure run
 * writes into ./.cairn/secure (0700) a CA, one server certificate for the three addresses, a client certificate
 * for the CLI and the snapshot agent (made by `cairn tls ca create` / `tls cert create`), a management token
 * (`bootstrap-token`, 0600, the servers' acl.tokens.initial_management) and the agents' config file; later runs
 * reuse them. It prints the environment that points the CLI and curl at it.
 *
 * `npm start -- --clients N` adds N client agents (`cairn agent` without -server, docs/membership.md) on 127.0.0.4,
 * 127.0.0.5, ..., HTTP on the same port as the servers, data in ./.cairn/clientN, joined to the three servers; they
 * start once there is a leader. Not with --secure yet: its certificates name the three servers' addresses only.
 *
 * For tests, CAIRN_START_HTTP_PORT, CAIRN_START_HTTPS_PORT, CAIRN_START_SERVER_PORT, CAIRN_START_AGENT_PORT and
 * CAIRN_START_DATA_DIR (a directory holding server1..3 and backups) replace 8500, 8501, 8300, 8510 and ./.cairn.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { request as httpsRequest } from "node:https";
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
const ARGS = process.argv.slice(2);
const SECURE = ARGS.includes("--secure");
/** `--clients N` or `--clients=N`: how many client agents to add (0 by default). */
const CLIENTS_AT = ARGS.findIndex((a) => a === "--clients" || a.startsWith("--clients="));
const CLIENTS_TEXT =
  CLIENTS_AT === -1
    ? "0"
    : ARGS[CLIENTS_AT].includes("=")
      ? ARGS[CLIENTS_AT].slice("--clients=".length)
      : (ARGS[CLIENTS_AT + 1] ?? "");
const UNKNOWN_ARGS = ARGS.filter(
  (a, i) =>
    a !== "--secure" && i !== CLIENTS_AT && !(i === CLIENTS_AT + 1 && !ARGS[CLIENTS_AT].includes("=")),
);
const HTTPS_PORT = portFromEnv("CAIRN_START_HTTPS_PORT", 8501);
/** What --secure writes and reads; absolute, as the agents' config file names these files. */
const SECURE_DIR = resolve(ROOT, DATA_DIR, "secure");
const SECURE_FILES = {
  ca: join(SECURE_DIR, "consul-agent-ca.pem"),
  serverCert: join(SECURE_DIR, "dc1-server-consul-0.pem"),
  serverKey: join(SECURE_DIR, "dc1-server-consul-0-key.pem"),
  clientCert: join(SECURE_DIR, "dc1-client-consul-0.pem"),
  clientKey: join(SECURE_DIR, "dc1-client-consul-0-key.pem"),
  token: join(SECURE_DIR, "bootstrap-token"),
  config: join(SECURE_DIR, "agent.json"),
};
/** The port clients use: HTTPS when secure (plain HTTP is off then). */
const API_PORT = SECURE ? HTTPS_PORT : HTTP_PORT;
const API_SCHEME = SECURE ? "https" : "http";
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
/** Client agents on the addresses after the servers'; at most 250 fit in 127.0.0.4 to 127.0.0.253. */
const CLIENT_COUNT_MAX = 250;
const CLIENTS = /^[0-9]+$/.test(CLIENTS_TEXT)
  ? Array.from({ length: Number(CLIENTS_TEXT) }, (_, i) => ({
      name: `cairn-client-${i + 1}`,
      host: `127.0.0.${i + 4}`,
      dataDir: `${DATA_DIR}/client${i + 1}`,
    }))
  : null;
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
    // Secure: the config file turns plain HTTP off; a -http-port flag would turn it back on.
    ...(HTTP_PORT === DEFAULT_HTTP_PORT || SECURE ? [] : ["-http-port", String(HTTP_PORT)]),
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
    ...(SECURE ? ["-config-file", SECURE_FILES.config] : []),
    ...SERVERS.flatMap((peer) => ["-retry-join", joinAddr(peer.host)]),
  ];
}

/** The `agent` arguments for client agent `c`: no -server, joined to the three servers, no DNS of its own. */
function clientArgs(c) {
  const joinAddr = (host) => (SERVER_PORT === DEFAULT_SERVER_PORT ? host : `${host}:${SERVER_PORT}`);
  return [
    MAIN_ARG,
    "agent",
    "-node",
    c.name,
    "-bind",
    c.host,
    "-client",
    c.host,
    "-data-dir",
    c.dataDir,
    ...(HTTP_PORT === DEFAULT_HTTP_PORT ? [] : ["-http-port", String(HTTP_PORT)]),
    "-dns-port",
    "-1",
    ...SERVERS.flatMap((peer) => ["-retry-join", joinAddr(peer.host)]),
  ];
}

/** Writes `text` to `path` (mode `mode`) whole or not at all: a temp name, then a rename. */
function writeFileAtomic(path, text, mode) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode, flag: "wx" });
  renameSync(tmp, path);
}

/** Runs `cairn ARGS` in the secure directory (the tls commands write their files into the working directory). */
function cairnIn(dir, args) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) fail(`cairn ${args.join(" ")} failed: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * --secure's files: made on the first secure run, reused after (the servers' data already trusts that CA and holds
 * that token). The agents' config: ACLs on with default deny, HTTPS only with client certificates, mutual TLS
 * between servers that checks their names.
 */
function ensureSecureSetup() {
  mkdirSync(SECURE_DIR, { recursive: true, mode: 0o700 });
  chmodSync(SECURE_DIR, 0o700);
  if (!existsSync(SECURE_FILES.ca)) {
    cairnIn(SECURE_DIR, ["tls", "ca", "create"]);
    cairnIn(SECURE_DIR, [
      "tls",
      "cert",
      "create",
      "-server",
      "-additional-ipaddress",
      "127.0.0.2",
      "-additional-ipaddress",
      "127.0.0.3",
    ]);
    cairnIn(SECURE_DIR, ["tls", "cert", "create", "-client"]);
  }
  for (const f of [
    SECURE_FILES.serverCert,
    SECURE_FILES.serverKey,
    SECURE_FILES.clientCert,
    SECURE_FILES.clientKey,
  ]) {
    if (!existsSync(f)) fail(`${f} is missing: remove ${SECURE_DIR} to have --secure make a new setup`);
  }
  if (!existsSync(SECURE_FILES.token)) writeFileAtomic(SECURE_FILES.token, `${randomUUID()}\n`, 0o600);
  const token = readFileSync(SECURE_FILES.token, "utf8").trim();
  const config = {
    acl: { enabled: true, default_policy: "deny", tokens: { initial_management: token } },
    ports: { http: -1, https: HTTPS_PORT },
    tls: {
      defaults: {
        ca_file: SECURE_FILES.ca,
        cert_file: SECURE_FILES.serverCert,
        key_file: SECURE_FILES.serverKey,
        verify_incoming: true,
        verify_outgoing: true,
      },
      internal_rpc: { verify_server_hostname: true },
    },
  };
  const text = `${JSON.stringify(config, null, 2)}\n`;
  if (!existsSync(SECURE_FILES.config) || readFileSync(SECURE_FILES.config, "utf8") !== text) {
    if (existsSync(SECURE_FILES.config)) renameSync(SECURE_FILES.config, `${SECURE_FILES.config}.old`);
    writeFileAtomic(SECURE_FILES.config, text, 0o600);
  }
}

/** The flags that let the CLI or the snapshot agent reach a secure server. */
function secureClientFlags() {
  return [
    "-ca-file",
    SECURE_FILES.ca,
    "-client-cert",
    SECURE_FILES.clientCert,
    "-client-key",
    SECURE_FILES.clientKey,
    "-token-file",
    SECURE_FILES.token,
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
/** Client agents' processes by name: not servers, so their exits never end the script. */
const clientChildren = new Map();
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
    `${API_SCHEME}://127.0.0.1:${API_PORT}`,
    ...(SECURE ? secureClientFlags() : []),
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

function startClient(c) {
  mkdirSync(resolve(ROOT, c.dataDir), { recursive: true });
  const child = spawn(process.execPath, clientArgs(c), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  clientChildren.set(c.name, child);
  console.log(
    `[${c.name}] client agent started: pid ${child.pid}, HTTP ${c.host}:${HTTP_PORT}, data ${c.dataDir}`,
  );
  prefixLines(child.stdout, c.name, process.stdout);
  prefixLines(child.stderr, c.name, process.stderr);
  child.on("close", (code, signal) => {
    if (clientChildren.get(c.name) === child) clientChildren.delete(c.name);
    if (stopping) return;
    const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
    console.error(`[${c.name}] exited (${how}); the servers keep running. To start it again, run:`);
    console.error(
      `  cd ${shellQuote(ROOT)} && ${[process.execPath, ...clientArgs(c)].map(shellQuote).join(" ")}`,
    );
  });
}

function startServer(s) {
  mkdirSync(resolve(ROOT, s.dataDir), { recursive: true });
  const child = spawn(process.execPath, agentArgs(s), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.set(s.name, child);
  console.log(
    `[${s.name}] started: pid ${child.pid}, ${SECURE ? "HTTPS" : "HTTP"} ${s.host}:${API_PORT}, RPC ${s.host}:${SERVER_PORT}, data ${s.dataDir}`,
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
    const problems = await checkPorts([s.host], [API_PORT, SERVER_PORT]);
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
  for (const child of clientChildren.values()) child.kill("SIGTERM");
  backupAgent?.kill("SIGTERM");
  const deadline = Date.now() + STOP_WAIT_MS;
  while ((children.size > 0 || clientChildren.size > 0 || backupAgent !== null) && Date.now() < deadline) {
    await sleep(100);
  }
  for (const child of clientChildren.values()) child.kill("SIGKILL");
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
      const leader = await getJson(host, "/v1/status/leader");
      if (typeof leader === "string" && leader !== "") return leader;
    } catch {
      // Not listening yet, or mid-election: keep polling until the deadline.
    }
    await sleep(LEADER_POLL_MS);
  }
  return null;
}

/** GET a JSON answer from a server's API, over HTTPS with the client certificate when secure. */
async function getJson(host, path) {
  if (!SECURE) {
    const res = await fetch(`http://${host}:${HTTP_PORT}${path}`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? await res.json() : undefined;
  }
  const tls = {
    ca: readFileSync(SECURE_FILES.ca),
    cert: readFileSync(SECURE_FILES.clientCert),
    key: readFileSync(SECURE_FILES.clientKey),
  };
  return await new Promise((resolvePromise, reject) => {
    const req = httpsRequest({ host, port: HTTPS_PORT, path, ...tls, timeout: 1000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolvePromise(res.statusCode === 200 ? JSON.parse(body) : undefined));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

function printSecureSteps(leader) {
  const f = SECURE_FILES;
  console.log(
    [
      "",
      `cairn is up, secure: 3 servers, leader ${leader}; ACLs on (default deny), HTTPS only on port ${HTTPS_PORT}`,
      "with client certificates, mutual TLS between servers. Data lives in " +
        `${DATA_DIR}; the CA, certificates and the management token in ${SECURE_DIR} (0700; keys and token 0600).`,
      "Point the CLI at it:",
      "",
      `  export CONSUL_HTTP_ADDR=https://127.0.0.1:${HTTPS_PORT}`,
      `  export CONSUL_CACERT=${f.ca}`,
      `  export CONSUL_CLIENT_CERT=${f.clientCert}`,
      `  export CONSUL_CLIENT_KEY=${f.clientKey}`,
      `  export CONSUL_HTTP_TOKEN_FILE=${f.token}`,
      "  npx cairn kv put hello world",
      "  npx cairn acl token list",
      `  curl --cacert ${f.ca} --cert ${f.clientCert} --key ${f.clientKey} \\`,
      `       -H "X-Consul-Token: $(cat ${f.token})" https://127.0.0.1:${HTTPS_PORT}/v1/kv/hello`,
      "",
      `A snapshot agent saves a verified backup every 5 minutes into ${BACKUP_DIR} (keeping ${BACKUP_RETAIN}),`,
      `with the management token: curl http://127.0.0.1:${AGENT_PORT}/health`,
      "",
      "Press Ctrl-C to stop all three servers.",
      "",
    ].join("\n"),
  );
}

function printNextSteps(leader) {
  if (SECURE) {
    printSecureSteps(leader);
    return;
  }
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
      `The web UI: http://127.0.0.1:${HTTP_PORT}/ui/ (the servers, and a KV browser).`,
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
  if (UNKNOWN_ARGS.length > 0)
    fail(`unknown argument ${UNKNOWN_ARGS[0]} (the only ones are --secure, --clients N)`);
  if (CLIENTS === null || CLIENTS.length > CLIENT_COUNT_MAX) {
    fail(`--clients takes a number of client agents from 0 to ${CLIENT_COUNT_MAX}, not "${CLIENTS_TEXT}"`);
  }
  if (SECURE && CLIENTS.length > 0)
    fail("--clients cannot be used with --secure yet: its certificates name the servers' addresses only");
  buildIfStale();
  if (!existsSync(MAIN)) {
    fail(
      "dist/src/main.js is missing after the build: the `agent` entry point (src/main.ts) is not written yet",
    );
  }
  if (SECURE) ensureSecureSetup();
  const problems = [
    ...(await checkPorts(
      SERVERS.map((s) => s.host),
      [API_PORT, SERVER_PORT],
    )),
    ...(await checkPorts(["127.0.0.1"], [AGENT_PORT])),
    ...(CLIENTS.length > 0
      ? await checkPorts(
          CLIENTS.map((c) => c.host),
          [HTTP_PORT],
        )
      : []),
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
  for (const c of CLIENTS) startClient(c);
  printNextSteps(leader);
  if (CLIENTS.length > 0) {
    const at = CLIENTS.map((c) => `${c.host}:${HTTP_PORT}`).join(", ");
    console.log(
      `Client agents (they forward to the servers): ${at}. Try: curl http://${CLIENTS[0].host}:${HTTP_PORT}/v1/agent/members\n`,
    );
  }
}

await main();
