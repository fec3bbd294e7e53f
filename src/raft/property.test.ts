import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RaftLog } from "./log.js";
import { quorumValue, voteResult } from "./progress.js";
import { MemoryStorage } from "./storage.js";
import type { Entry } from "./types.js";

describe("property: quorum arithmetic against naive twins", () => {
  it("quorumValue is the largest value a majority has reached", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 9 }), (values) => {
        const majority = Math.floor(values.length / 2) + 1;
        let naive = 0;
        for (const v of new Set(values))
          if (values.filter((x) => x >= v).length >= majority) naive = Math.max(naive, v);
        assert.equal(quorumValue(values), naive);
      }),
    );
  });

  it("voteResult agrees with counting", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(true, false, undefined), { minLength: 1, maxLength: 9 }),
        (answers) => {
          const voters = answers.map((_, i) => i + 1);
          const votes = new Map<number, boolean>();
          answers.forEach((a, i) => {
            if (a !== undefined) votes.set(i + 1, a);
          });
          const q = Math.floor(voters.length / 2) + 1;
          const yes = answers.filter((a) => a === true).length;
          const no = answers.filter((a) => a === false).length;
          const expected = yes >= q ? "won" : voters.length - no < q ? "lost" : "pending";
          assert.equal(voteResult(voters, votes), expected);
        },
      ),
    );
  });
});

describe("property: log matching after random appends and truncations", () => {
  it("RaftLog over MemoryStorage equals a plain array model, across persist points", () => {
    const op = fc.record({
      at: fc.nat(30),
      terms: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 6 }),
      persist: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const storage = new MemoryStorage();
        const log = new RaftLog(storage, Number.MAX_SAFE_INTEGER);
        let model: number[] = []; // model[i] = term of index i + 1
        for (const o of ops) {
          const start = Math.min(o.at, model.length) + 1;
          let term = Math.max(model[start - 2] ?? 1, 1);
          const ents: Entry[] = o.terms.map((t, i) => {
            term = Math.max(term, t);
            return { index: start + i, term, kind: "normal", data: new Uint8Array([t]) };
          });
          if (ents.length === 0) continue;
          log.append(ents);
          model = model.slice(0, start - 1).concat(ents.map((e) => e.term));
          if (o.persist) {
            storage.append(log.unstableEntries());
            const last = ents[ents.length - 1]!;
            log.unstable.stableTo(last.index, last.term);
          }
          assert.equal(log.lastIndex(), model.length);
          for (let i = 1; i <= model.length; i++) assert.equal(log.term(i), model[i - 1], `term at ${i}`);
        }
      }),
    );
  });
});
