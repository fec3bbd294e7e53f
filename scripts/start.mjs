#!/usr/bin/env node
/**
 * `npm start`: a local three-server datacenter on 127.0.0.1, 127.0.0.2 and 127.0.0.3, each with Consul's default
 * ports (HTTP 8500, server RPC 8300), so addresses look as in production and the CLI's default address works
 * (docs/consul-compat.md §9). Builds first when src/ is newer than dist/. Data persists in ./.cairn between
 * runs. Plain JavaScript: it must run before the build it decides about.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { checkPorts } from "./ports.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const MAIN = join(ROOT, "dist", "src", "main.js");
const SERVERS = [1, 2, 3].map((n) => ({
  name: `cairn-${n}`,
  host: `127.0.0.${n}`,
  dataDir: `./.cairn/server${n}`,
}));
const HTTP_PORT = 8500;
const SERVER_PORT = 8300;
const LEADER_WAIT_MS = 30_000;
const LEADER_POLL_MS = 250;
const STOP_WAIT_MS = 10_000;

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

function fail(message) {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

function agentArgs(s) {
  return [
    MAIN,
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
    ...SERVERS.flatMap((peer) => ["-retry-join", peer.host]),
  ];
}

/** Copies a child's stream line by line with its name in front, so three servers' logs stay readable. */
function prefixLines(stream, name, out) {
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
    out.write(`[${name}] ${line}\n`);
  });
}

const children = new Map();
let stopping = false;

function startServer(s) {
  mkdirSync(join(ROOT, s.dataDir), { recursive: true });
  const child = spawn(process.execPath, agentArgs(s), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.set(s.name, child);
  prefixLines(child.stdout, s.name, process.stdout);
  prefixLines(child.stderr, s.name, process.stderr);
  // "close", not "exit": it comes after the pipes drain, so a dying server's last lines are printed.
  child.on("close", (code, signal) => {
    children.delete(s.name);
    if (stopping) return;
    console.error(`[${s.name}] exited unexpectedly (${signal ?? `code ${code}`}); stopping the others`);
    void stopAll(1);
  });
}

/** SIGTERM to every child, then SIGKILL to any still running after STOP_WAIT_MS; exits with `code`. */
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill("SIGTERM");
  const deadline = Date.now() + STOP_WAIT_MS;
  while (children.size > 0 && Date.now() < deadline) await sleep(100);
  for (const [name, child] of children) {
    console.error(`[${name}] did not stop within ${STOP_WAIT_MS / 1000} s: killing it`);
    child.kill("SIGKILL");
  }
  process.exit(code);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The leader's address once `GET /v1/status/leader` names one (Consul answers `""` while there is none). */
async function waitForLeader(host) {
  const deadline = Date.now() + LEADER_WAIT_MS;
  while (Date.now() < deadline && !stopping) {
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
  console.log(
    [
      "",
      `cairn is up: 3 servers, leader ${leader}. Data lives in ./.cairn (kept between runs). Try:`,
      "",
      "  npx cairn kv put hello world",
      "  npx cairn kv get hello",
      "  npx cairn operator raft list-peers",
      `  curl http://127.0.0.1:${HTTP_PORT}/v1/kv/hello`,
      "",
      "Press Ctrl-C to stop all three servers.",
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
  const problems = await checkPorts(
    SERVERS.map((s) => s.host),
    [HTTP_PORT, SERVER_PORT],
  );
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    process.exit(1);
  }
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));
  for (const s of SERVERS) startServer(s);
  const leader = await waitForLeader(SERVERS[0].host);
  if (stopping) return;
  if (leader === null) {
    console.error(
      `npm start: no leader after ${LEADER_WAIT_MS / 1000} s; the servers keep running (see their logs)`,
    );
    return;
  }
  printNextSteps(leader);
}

await main();
