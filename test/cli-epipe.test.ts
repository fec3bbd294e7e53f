/**
 * The `cairn` executable when its reader goes away (`cairn kv put -h | head -1`): it exits as Go's CLI does on
 * SIGPIPE (141), quietly: no stack trace of the EPIPE on stderr.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../src/main.js", import.meta.url));

describe("cairn with a closed stdout", () => {
  it("epipe: exits 141 without a stack trace when stdout's reader is gone", async () => {
    const child = spawn(process.execPath, [MAIN, "kv", "put", "-h"], { stdio: ["ignore", "pipe", "pipe"] });
    // Closed before the child has written anything: its first write to stdout fails with EPIPE.
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    clearTimeout(timer);
    assert.equal(stderr, "", "nothing on stderr");
    assert.equal(code, 141);
  });
});
