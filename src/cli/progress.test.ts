import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatBytes, formatEta, formatLine, progress } from "./progress.js";

/** A terminal stand-in: what a TTY stderr offers cli-progress (write, isTTY, columns). */
function terminal(): { isTTY: true; columns: number; text: () => string; write: (c: string) => boolean } {
  const chunks: string[] = [];
  return { isTTY: true, columns: 120, text: () => chunks.join(""), write: (c) => chunks.push(c) > 0 };
}

describe("progress bar", () => {
  it("formats sizes and times", () => {
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
    assert.equal(formatEta(4.4), "4s");
    assert.equal(formatEta(75), "1m15s");
  });

  it("draws a bar with share, bytes, rate and ETA when the total is known", () => {
    const line = formatLine(
      "Saving snapshot",
      { value: 512 * 1024, total: 1024 * 1024, startTime: 0, eta: 3 },
      1000,
    );
    assert.equal(
      line,
      `Saving snapshot [${"=".repeat(12)}${"-".repeat(12)}]  50% 512.0 KiB / 1.0 MiB, 512.0 KiB/s, ETA 3s`,
    );
  });

  it("shows bytes and rate alone without a total, and never more than 100 % of an estimate", () => {
    assert.equal(
      formatLine("x", { value: 2048, total: 0, startTime: 0, eta: 0 }, 2000),
      "x 2.0 KiB, 1.0 KiB/s",
    );
    const over = formatLine("x", { value: 3000, total: 2000, startTime: 0, eta: 0 }, 1000);
    assert.match(over, /\] 100% 2\.9 KiB \/ 2\.9 KiB, .* ETA 0s$/);
  });

  it("writes nothing when stderr is not a terminal", () => {
    const chunks: string[] = [];
    const p = progress(
      { write: (c: string | Uint8Array) => chunks.push(String(c)) > 0 },
      "Saving snapshot",
      100,
    );
    p.add(50);
    p.setTotal(200);
    p.done();
    assert.deepEqual(chunks, []);
  });

  it("draws on a terminal and ends the line once, whatever is called after", () => {
    const tty = terminal();
    const p = progress(tty, "Restoring snapshot", 4096);
    p.add(1024);
    p.add(3072);
    p.done();
    p.done();
    p.add(1);
    const text = tty.text();
    assert.match(text, /Restoring snapshot \[=+\] 100% 4\.0 KiB \/ 4\.0 KiB, [\d.]+ (B|KiB|MiB)\/s, ETA 0s/);
    assert.equal(text.split("\n").length, 2, JSON.stringify(text));
    assert.ok(text.endsWith("\n"));
  });

  it("takes a total that arrives after the start (the server's estimate)", () => {
    const tty = terminal();
    const p = progress(tty, "Saving snapshot");
    p.setTotal(2048);
    p.add(2048);
    p.done();
    assert.match(tty.text(), /Saving snapshot \[=+\] 100% 2\.0 KiB \/ 2\.0 KiB/);
  });
});
