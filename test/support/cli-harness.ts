/**
 * Test support for the CLI's tests: runs `cairn` in-process and captures stdout, stderr and the exit code,
 * against a test agent (test-agent.ts: cairn's real HTTP stack over a MemoryServer).
 */
import type { TestContext } from "node:test";
import type { MemoryServer } from "../../src/api/memory-server.js";
import { runCli } from "../../src/cli/cli.js";
import type { Writer } from "../../src/cli/command.js";
import type { Env } from "../../src/client/index.js";
import { startTestAgent, type TestAgent } from "./test-agent.js";

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

/** A started test agent (over `api` when given) and the env that points the CLI at it; closed when the test ends. */
export async function cliAgent(
  t: TestContext,
  opts: { readonly api?: MemoryServer } = {},
): Promise<{ agent: TestAgent; api: MemoryServer; env: Env }> {
  const { agent, api, address } = await startTestAgent(t, opts);
  return { agent, api, env: { CONSUL_HTTP_ADDR: address } };
}
