import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { realClock } from "../util/clock.js";
import { SeededRng } from "../util/rng.js";
import { ReadBarriers } from "./reads.js";
import type { ServerHandle } from "./server-parts.js";

/** A core that records the read requests it is asked for and has applied `applied`. */
function fakeServer(applied: number): { server: Pick<ServerHandle, "raw" | "kick">; asked: number[] } {
  const asked: number[] = [];
  const raw = {
    raft: { term: 3, log: { applied } },
    readIndex: (id: number) => asked.push(id),
  };
  // Only the members ReadBarriers touches are present.
  return { server: { raw: () => raw as unknown as ReturnType<ServerHandle["raw"]>, kick: () => {} }, asked };
}

const settled = (p: Promise<void>): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);

describe("read barriers", () => {
  it("a read answer meant for an earlier incarnation of this server does not release a read of this one", async () => {
    // The process that asked before it was killed, and the restarted one; each boot seeds its own rng.
    const before = fakeServer(10);
    const old = new ReadBarriers(before.server, 5_000, new SeededRng(1), realClock);
    const oldRead = old.barrier(false);
    old.rejectAll(new Error("killed"));
    await assert.rejects(oldRead, /killed/);

    const after = fakeServer(10);
    const fresh = new ReadBarriers(after.server, 5_000, new SeededRng(2), realClock);
    const read = fresh.barrier(false);
    // The leader's queued answer to the old request (index 8, already applied here) reaches the new process.
    fresh.confirmed(before.asked[0]!, 8);
    assert.equal(await settled(read), false, "an old answer must not serve a new read");
    fresh.confirmed(after.asked[0]!, 10);
    assert.equal(await settled(read), true);
  });

  it("a confirmed read waits until its index is applied here", async () => {
    const s = fakeServer(4);
    const reads = new ReadBarriers(s.server, 5_000, new SeededRng(7), realClock);
    const read = reads.barrier(false);
    reads.confirmed(s.asked[0]!, 6);
    assert.equal(await settled(read), false);
    reads.releaseApplied(6);
    assert.equal(await settled(read), true);
  });
});
