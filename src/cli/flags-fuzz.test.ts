/**
 * The CLI's flags under fast-check (issue 17, item 5): every command of the tree, in-process against a test agent
 * (the real HTTP stack over a MemoryServer). A flag the command does not define is Consul's usage error: exit 1,
 * `flag provided but not defined: -<name>` then the usage on stderr, nothing on stdout. Random flags and
 * arguments may succeed or fail, but always with an exit code and a message, never a stack trace or a rejection.
 * A failure prints the seed; `FUZZ_SEED=<n>` replays it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { cliAgent, run } from "../../test/support/cli-harness.js";
import { checkFuzz } from "../util/fuzz-check.js";
import { commandPaths, runCli } from "./cli.js";

const NUM_RUNS = 150;

/** A JavaScript stack frame, or an error class's name at the start of a line: what a user must never see. */
const STACK = /^\s+at .+:\d+:\d+\)?$|^(TypeError|ReferenceError|RangeError|SyntaxError|AssertionError)\b/m;

/** `cairn agent` is src/main.ts's, not the CLI tree's (whose entry only says so). */
const PATHS = commandPaths().filter((p) => p.join(" ") !== "agent");
/**
 * Commands whose action is a long-running process or runs another program (`lock`, `watch`, `snapshot agent`),
 * or reads an object store named by its argument: their flag errors are fuzzed, their actions are not.
 */
const ACTION_EXCLUDED = new Set(["lock", "watch", "snapshot agent", "snapshot list", "snapshot diff"]);
/** HTTP flags that could point the client away from the test agent (the network is loopback only). */
const AWAY_FLAGS = new Set([
  "http-addr",
  "ca-file",
  "ca-path",
  "client-cert",
  "client-key",
  "tls-server-name",
]);

/** The flags a command's help lists (`  -name=<value>` or `  -name`). */
async function flagsOf(path: readonly string[]): Promise<string[]> {
  const r = await run([...path, "-h"], {});
  assert.equal(r.code, 0, `${path.join(" ")} -h: ${r.stderr}`);
  return [...r.stdout.matchAll(/^ {2}-([a-z0-9][a-z0-9-]*)(=<[^>]*>)?$/gm)].map((m) => m[1] ?? "");
}

const hostile = fc.oneof(
  fc.constantFrom(
    "",
    "-",
    "--",
    "=",
    "-1",
    "0",
    "18446744073709551616",
    "1e309",
    "NaN",
    "true",
    "maybe",
    "10s",
    "-5m",
    "☃",
    "\u0000",
    "\ud800",
    "../..",
    "@",
    "@/nonexistent/x",
    "a".repeat(5000),
    "json",
    "pretty",
  ),
  fc.string({ maxLength: 10 }),
);

function argv(flags: readonly string[]): fc.Arbitrary<string[]> {
  const usable = flags.filter((f) => !AWAY_FLAGS.has(f));
  const flag =
    usable.length === 0
      ? hostile
      : fc.oneof(
          fc.tuple(fc.constantFrom(...usable), hostile).map(([f, v]) => `-${f}=${v}`),
          fc.constantFrom(...usable).map((f) => `-${f}`),
          fc.constantFrom(...usable).map((f) => `--${f}`),
        );
  // Mostly flags then arguments, as users write them; sometimes mixed (Go's flag parsing stops at the first
  // argument, so a later "-x" is an argument) or a value as its own word (`-token x`).
  return fc.oneof(
    fc
      .tuple(fc.array(flag, { maxLength: 4 }), fc.array(hostile, { maxLength: 3 }))
      .map(([f, a]) => [...f, ...a]),
    fc.array(fc.oneof(flag, hostile), { maxLength: 6 }),
  );
}

describe("the CLI's flags under hostile input", () => {
  it("an undefined flag is a usage error on every command: exit 1, Consul's text, then the usage", async () => {
    // Under a prefix no command uses: commands also take hidden flags their help does not list (Consul's
    // deprecated `acl token clone -id`), so a name merely absent from the help may still be defined.
    const undefinedFlag = fc.stringMatching(/^[a-z0-9-]{0,15}$/).map((n) => `zz${n}`);
    const table = await Promise.all(PATHS.map(async (p) => ({ path: p, flags: new Set(await flagsOf(p)) })));
    await checkFuzz(
      fc.asyncProperty(fc.constantFrom(...table), undefinedFlag, async ({ path, flags }, name) => {
        fc.pre(!flags.has(name));
        const r = await run([...path, `-${name}`, "x"], { CONSUL_HTTP_ADDR: "127.0.0.1:1" });
        const what = `cairn ${path.join(" ")} -${name}`;
        assert.equal(r.code, 1, `${what}: ${r.stderr}`);
        const [first, ...rest] = r.stderr.split("\n");
        // The snapshot agent reports as Consul's agents do, after "==> " (src/snapshot-agent/main.ts).
        const prefix = path.join(" ") === "snapshot agent" ? "==> " : "";
        assert.equal(first, `${prefix}flag provided but not defined: -${name}`, what);
        assert.match(rest.join("\n"), /^Usage: cairn /m, `${what}: the usage follows`);
        assert.equal(r.stdout, "", what);
      }),
      NUM_RUNS,
    );
  });

  it("random flags and arguments: an exit code and a message, never a stack trace", async (t) => {
    const { env } = await cliAgent(t);
    // Commands that write files (snapshot save, tls ca create) write them here, not into the repository.
    const cwd = process.cwd();
    const dir = mkdtempSync(join(tmpdir(), "cairn-cli-fuzz-"));
    process.chdir(dir);
    t.after(() => {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    });
    const runnable = PATHS.filter((p) => !ACTION_EXCLUDED.has(p.join(" ")));
    const table = await Promise.all(runnable.map(async (p) => ({ path: p, flags: await flagsOf(p) })));
    const codes = new Map<number, number>();
    const cases = fc
      .constantFrom(...table)
      .chain(({ path, flags }) => argv(flags).map((a) => [...path, ...a]));
    await checkFuzz(
      fc.asyncProperty(cases, fc.string({ maxLength: 20 }), async (args, stdin) => {
        const what = `cairn ${args.map((a) => JSON.stringify(a.slice(0, 60))).join(" ")}`;
        let code: number;
        const out: string[] = [];
        const errs: string[] = [];
        try {
          code = await runCli(args, {
            stdout: { write: (c: string | Uint8Array) => out.push(Buffer.from(c).toString()) },
            stderr: { write: (c: string | Uint8Array) => errs.push(Buffer.from(c).toString()) },
            env,
            readStdin: async () => Buffer.from(stdin),
          });
        } catch (e) {
          assert.fail(
            `${what} rejected: ${(e instanceof Error ? (e.stack ?? e.message) : String(e)).slice(0, 2000)}`,
          );
        }
        const stderr = errs.join("");
        codes.set(code, (codes.get(code) ?? 0) + 1);
        assert.ok(Number.isInteger(code) && code >= 0 && code <= 2, `${what}: exit ${code}`);
        assert.doesNotMatch(stderr, STACK, `${what}: a stack trace on stderr`);
        assert.doesNotMatch(out.join(""), STACK, `${what}: a stack trace on stdout`);
        // Exit 2 is Consul's quiet "nothing matched" (`consul members` with no member in the filter).
        if (code === 1) assert.ok(stderr.trim() !== "", `${what}: exit 1 without a message`);
      }),
      NUM_RUNS,
    );
    // The runs reached the commands' actions, not only their flag parsing.
    assert.ok(
      (codes.get(0) ?? 0) > 0 && (codes.get(1) ?? 0) > 0,
      `exit codes: ${JSON.stringify([...codes])}`,
    );
    if (process.env.FUZZ_TRACE !== undefined)
      process.stderr.write(`exit codes: ${JSON.stringify([...codes])}\n`);
  });
});
