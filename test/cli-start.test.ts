/**
 * What the `cairn` executable loads to start a command (issue 14: start-up is inside every scripted
 * `cairn snapshot save`): the command's own module and what it needs, never the other commands, the snapshot
 * agent with its metrics and logger, the cloud SDKs, or the progress bar library when stderr is not a terminal.
 * A module-resolve hook in the child records every module it loads.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));
const SRC_URL = new URL("../src/", import.meta.url).href;

const HOOKS = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.CAIRN_TEST_MODULE_LOG, r.url + "\\n");
  return r;
}
`;
const REGISTER = `import { register } from "node:module";
register(new URL("./hooks.mjs", import.meta.url));
`;

let dir = "";
/** A loopback port with nothing listening: the commands that call an agent fail fast, after loading. */
let deadPort = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "cairn-cli-start-"));
  await writeFile(join(dir, "hooks.mjs"), HOOKS);
  await writeFile(join(dir, "register.mjs"), REGISTER);
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", res));
  const addr = srv.address();
  deadPort = typeof addr === "object" && addr !== null ? addr.port : 0;
  await new Promise<void>((res) => srv.close(() => res()));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `cairn ...args` with stdio piped; resolves its exit code and the modules it loaded (src/-relative or package names). */
async function loaded(
  name: string,
  args: readonly string[],
): Promise<{ code: number | null; modules: Set<string> }> {
  const log = join(dir, `${name}.log`);
  await writeFile(log, "");
  const child = spawn(
    process.execPath,
    ["--import", pathToFileURL(join(dir, "register.mjs")).href, MAIN, ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CAIRN_TEST_MODULE_LOG: log, CONSUL_HTTP_ADDR: "", CONSUL_HTTP_SSL: "" },
    },
  );
  child.stdout.resume();
  child.stderr.resume();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  clearTimeout(timer);
  const modules = new Set<string>();
  for (const url of (await readFile(log, "utf8")).split("\n")) {
    if (url.startsWith(SRC_URL)) modules.add(url.slice(SRC_URL.length));
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (pkg?.[1] !== undefined) modules.add(pkg[1]);
  }
  return { code, modules };
}

/** The modules of `modules` that match any of `patterns`. */
function matching(modules: Set<string>, patterns: readonly RegExp[]): string[] {
  return [...modules].filter((m) => patterns.some((p) => p.test(m)));
}

const HEAVY = [
  /^snapshot-agent\/(?!save\.js$)/,
  /^agent\//,
  /^prom-client$/,
  /^pino$/,
  /^@aws-sdk\//,
  /^@azure\//,
  /^@google-cloud\//,
  /^@peculiar\//,
  /^cli-progress$/,
];

describe("cairn start-up loads only the command that runs", () => {
  it("version: its own module, no other command and no library", async () => {
    const { code, modules } = await loaded("version", ["version"]);
    assert.equal(code, 0);
    assert.ok(modules.has("cli/commands/version.js"), "the hook saw the command's module");
    assert.deepEqual(
      matching(modules, [/^cli\/commands\/(?!version\.js$)/, /^snapshot/, ...HEAVY]),
      [],
      "nothing beyond version's needs",
    );
  });

  it("kv get: the kv commands, no snapshot code", async () => {
    const { code, modules } = await loaded("kv-get", ["kv", "get", `-http-addr=127.0.0.1:${deadPort}`, "k"]);
    assert.equal(code, 1, "no agent on the port");
    assert.ok(modules.has("cli/commands/kv.js"));
    assert.deepEqual(matching(modules, [/^cli\/commands\/(?!kv\.js$)/, /^snapshot/, ...HEAVY]), []);
  });

  it("snapshot save: the archive verifier, not the snapshot agent, its stores or a progress bar on a pipe", async () => {
    const out = join(dir, "x.snap");
    const { code, modules } = await loaded("save", [
      "snapshot",
      "save",
      `-http-addr=127.0.0.1:${deadPort}`,
      out,
    ]);
    assert.equal(code, 1, "no agent on the port");
    assert.ok(modules.has("cli/commands/snapshot.js") && modules.has("snapshot-agent/save.js"));
    assert.deepEqual(
      matching(modules, [/^cli\/commands\/(?!(snapshot|snapshot-source|kv)\.js$)/, ...HEAVY]),
      [],
    );
  });
});
