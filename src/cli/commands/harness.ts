/** Test support: runs `cairn` in-process against a FakeConsul and captures stdout, stderr and the exit code. */
import type { TestContext } from "node:test";
import { FakeConsul } from "../../client/testing.js";
import { runCli } from "../cli.js";
import type { Writer } from "../command.js";
import type { Env } from "../http-flags.js";

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Buffer;
}

function sink(): Writer & { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  return {
    write(c: string | Uint8Array) {
      chunks.push(Buffer.from(c));
    },
    bytes: () => Buffer.concat(chunks),
  };
}

export async function run(argv: string[], env: Env, stdin = ""): Promise<RunResult> {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(argv, { stdout, stderr, env, readStdin: async () => Buffer.from(stdin) });
  return {
    code,
    stdout: stdout.bytes().toString(),
    stderr: stderr.bytes().toString(),
    stdoutBytes: stdout.bytes(),
  };
}

/** A started fake and the env that points the CLI at it; closed when the test ends. */
export async function fakeConsul(t: TestContext): Promise<{ fake: FakeConsul; env: Env }> {
  const fake = new FakeConsul();
  const address = await fake.start();
  t.after(() => fake.close());
  return { fake, env: { CONSUL_HTTP_ADDR: address } };
}
