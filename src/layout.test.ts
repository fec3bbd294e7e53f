import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/**
 * The architecture is the folders (docs/ARCHITECTURE.md): this reads every import in src/ and enforces who may
 * import whom, and that the pure folders stay pure. Tests (*.test.ts) may import anything.
 */
const SRC = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "src");

const ALLOWED: Record<string, readonly string[]> = {
  util: [],
  acl: ["util"],
  raft: ["util"],
  snapshot: ["util"],
  fsm: ["util", "acl", "snapshot"],
  storage: ["util", "raft"],
  transport: ["util", "raft"],
  server: ["util", "raft", "fsm", "storage", "snapshot", "transport"],
  api: ["util", "acl", "raft", "fsm", "snapshot", "transport", "server"],
  local: ["util", "fsm", "storage", "api"],
  http: ["util", "acl", "fsm", "snapshot", "api", "local"],
  dns: ["util", "fsm", "api"],
  agent: ["util", "acl", "server", "api", "local", "http", "dns"],
  client: ["util"],
  cli: ["util", "client", "snapshot", "snapshot-agent"],
  "snapshot-agent": ["util", "client", "snapshot"],
  // api: the simulator runs the service's own session TTL timers (api/sessions.ts) beside the shipped driver.
  sim: ["util", "raft", "fsm", "snapshot", "storage", "transport", "server", "api"],
  torture: ["util", "snapshot", "sim", "transport"],
};

/** Folders whose code must be deterministic: no I/O, clock, timers or ambient randomness. */
const PURE = ["raft", "fsm", "acl"];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

function importsOf(text: string): string[] {
  const re = /^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gms;
  return [...text.matchAll(re)].map((m) => m[1]!);
}

function folderOf(file: string): string {
  return relative(SRC, file).split(/[\\/]/)[0]!;
}

describe("source layout", () => {
  const files = sources(SRC).filter((f) => relative(SRC, f).includes("/"));

  it("every folder imports only the folders docs/ARCHITECTURE.md allows", () => {
    const bad: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      const allowed = ALLOWED[from];
      assert.ok(
        allowed !== undefined,
        `folder "${from}" is not in the layout; add it to docs/ARCHITECTURE.md and this test`,
      );
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (!spec.startsWith(".")) {
          if (PURE.includes(from))
            bad.push(`${relative(SRC, file)} imports package "${spec}" (must stay pure)`);
          continue;
        }
        const to = folderOf(resolve(file, "..", spec));
        if (to !== from && !allowed.includes(to))
          bad.push(`${relative(SRC, file)} imports ${to}/ ("${spec}")`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it("every folder in the layout exists, and every folder of src/ is in the layout", () => {
    const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    assert.deepEqual([...folders].sort(), Object.keys(ALLOWED).sort());
  });

  it("src/raft imports nothing but its own files and src/util", () => {
    for (const file of files.filter((f) => folderOf(f) === "raft")) {
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        assert.ok(
          spec.startsWith("./") || spec.startsWith("../util/"),
          `${relative(SRC, file)} imports "${spec}"`,
        );
      }
    }
  });

  it("pure folders read no clock, timer or ambient randomness", () => {
    const banned =
      /\b(Date\.now|new Date\(|Math\.random|setTimeout|setInterval|setImmediate|performance\.now|process\.)/;
    for (const file of files.filter((f) => PURE.includes(folderOf(f)))) {
      const lines = readFileSync(file, "utf8").split("\n");
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, "");
        assert.ok(!banned.test(code), `${relative(SRC, file)}:${i + 1}: ${line.trim()}`);
      });
    }
  });

  it("nothing but the torture driver imports the simulator", () => {
    // torture/ runs real processes and judges their histories with the simulator's checkers.
    for (const file of files.filter((f) => !["sim", "torture"].includes(folderOf(f)))) {
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (spec.startsWith("."))
          assert.notEqual(folderOf(resolve(file, "..", spec)), "sim", relative(SRC, file));
      }
    }
  });
});
