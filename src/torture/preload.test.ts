import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SeededRng } from "../util/rng.js";
import { cutUnsynced } from "./servers.js";

const CLOCK = new URL("./clock-preload.js", import.meta.url).href;
const DISK = new URL("./disk-preload.js", import.meta.url).href;

/** Runs an ES module body in a child node with the preload and env; returns its stdout. */
function run(preload: string, env: Record<string, string>, body: string): string {
  const r = spawnSync(process.execPath, ["--import", preload, "--input-type=module", "-e", body], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe("the torture's preloads", () => {
  it("clock: Date jumps by the file's offset at start and on SIGUSR2; the monotonic clock does not", () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-torture-clock-"));
    try {
      const file = join(dir, "clock");
      writeFileSync(file, "3600000\n");
      const out = run(
        CLOCK,
        { CAIRN_TORTURE_CLOCK_FILE: file },
        `import { writeFileSync } from "node:fs";
         const skew = () => Math.round((Date.now() - (performance.timeOrigin + performance.now())) / 1000);
         const first = [skew(), Math.round((new Date().getTime() - performance.timeOrigin - performance.now()) / 1000)];
         writeFileSync(${JSON.stringify(file)}, "-60000");
         process.kill(process.pid, "SIGUSR2");
         await new Promise((r) => setTimeout(r, 100));
         console.log(JSON.stringify([...first, skew(), new Date(5).getTime()]));`,
      );
      assert.deepEqual(JSON.parse(out), [3600, 3600, -60, 5]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("clock drift (CAIRN_TORTURE_DRIFT=1): the monotonic clock and intervals slow to the file's rate", () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-torture-drift-"));
    try {
      const file = join(dir, "clock");
      const out = run(
        CLOCK,
        { CAIRN_TORTURE_CLOCK_FILE: file, CAIRN_TORTURE_DRIFT: "1" },
        `import { writeFileSync } from "node:fs";
         // An interval set before the drift (as raft's ticker is) must slow down with it.
         let fired = 0;
         const timer = setInterval(() => fired++, 20);
         writeFileSync(${JSON.stringify(file)}, "0 0.25");
         process.kill(process.pid, "SIGUSR2");
         await new Promise((r) => setImmediate(r));
         const [wall0, mono0, fired0] = [Date.now(), performance.now(), fired];
         while (Date.now() - wall0 < 600) await new Promise((r) => setImmediate(r));
         const drifted = [(performance.now() - mono0) / (Date.now() - wall0), fired - fired0];
         writeFileSync(${JSON.stringify(file)}, "0");
         process.kill(process.pid, "SIGUSR2");
         await new Promise((r) => setImmediate(r));
         const [wall1, mono1] = [Date.now(), performance.now()];
         while (Date.now() - wall1 < 200) await new Promise((r) => setImmediate(r));
         clearInterval(timer);
         console.log(JSON.stringify([...drifted, (performance.now() - mono1) / (Date.now() - wall1)]));`,
      );
      const [slowRate, firings, trueRate] = JSON.parse(out) as number[];
      assert.ok(Math.abs(slowRate! - 0.25) < 0.05, `drifted clock rate ${slowRate}`);
      // 600 ms at a quarter speed is 150 drifted ms: at most about 8 firings of a 20 ms interval (30 at true speed).
      assert.ok(firings! <= 10, `${firings} firings`);
      assert.ok(Math.abs(trueRate! - 1) < 0.05, `clock rate after healing ${trueRate}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("disk: journals each WAL sync's size; fsyncs fail with EIO while the control file says fsync-error", () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-torture-disk-"));
    try {
      const control = join(dir, "ctl");
      const journal = join(dir, "journal");
      const seg = join(dir, "0000000000000001.wal");
      const out = run(
        DISK,
        { CAIRN_TORTURE_DISK_FILE: control, CAIRN_TORTURE_DISK_JOURNAL: journal },
        `import { open } from "node:fs/promises";
         import { writeFileSync } from "node:fs";
         const fh = await open(${JSON.stringify(seg)}, "w");
         await fh.write("hello");
         await fh.datasync();
         await fh.write("unsynced");
         writeFileSync(${JSON.stringify(control)}, "fsync-error");
         process.kill(process.pid, "SIGUSR2");
         await new Promise((r) => setTimeout(r, 100));
         const failed = await fh.sync().then(() => "synced", (e) => e.code);
         console.log(failed);`,
      );
      assert.equal(out, "EIO");
      assert.equal(readFileSync(journal, "utf8"), `5 ${seg}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the torture's power cut", () => {
  it("cuts each WAL segment back to between its journaled synced size and its current size, never below", () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-torture-cut-"));
    try {
      const a = join(dir, "0000000000000001.wal");
      const b = join(dir, "0000000000000009.wal");
      const other = join(dir, "boundary");
      for (let seed = 1; seed <= 20; seed++) {
        writeFileSync(a, "synced-unsynced");
        writeFileSync(b, "never-synced");
        writeFileSync(other, "not a segment");
        const cut = cutUnsynced(dir, `3 ${a}\n6 ${a}\n`, new SeededRng(seed));
        const left = [readFileSync(a, "utf8"), readFileSync(b, "utf8")];
        assert.ok("synced-unsynced".startsWith(left[0]!) && left[0]!.length >= 6, left[0]);
        assert.ok("never-synced".startsWith(left[1]!), left[1]);
        assert.equal(cut, 15 + 12 - left[0]!.length - left[1]!.length);
        assert.equal(readFileSync(other, "utf8"), "not a segment");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
