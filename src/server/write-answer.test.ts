import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AclError } from "../fsm/index.js";
import { InvalidWriteError, toWire, unwrap, writeAnswer } from "./write-answer.js";

describe("write answers", () => {
  it("carry the store's ACL refusals to the follower typed, with code and text", () => {
    for (const code of ["acl_invalid", "acl_bootstrap_denied", "acl_bootstrap_reset"] as const) {
      const wire = writeAnswer(JSON.parse(JSON.stringify(toWire(new AclError(code, `refused ${code}`)))));
      const back = unwrap(wire);
      assert.ok(back instanceof AclError);
      assert.equal(back.code, code);
      assert.equal(back.message, `refused ${code}`);
    }
    // A code the store never returns stays a plain refusal.
    assert.throws(() => unwrap({ error: "x", kind: "invalid", code: "acl_invalid_code" }), InvalidWriteError);
  });
});
