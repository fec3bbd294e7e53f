#!/usr/bin/env node
/** The `cairn` executable: process glue around runCli (real stdio and env, exit code). */
import { runCli } from "./cli.js";

const STDIN_BYTES_MAX = 512 * 1024 * 1024;

/** All of stdin, bounded so a runaway pipe fails instead of exhausting memory. */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buf = chunk as Buffer;
    size += buf.byteLength;
    if (size > STDIN_BYTES_MAX) throw new Error(`stdin exceeds ${STDIN_BYTES_MAX} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * A reader that went away (`cairn kv get -recurse | head`): Go's CLI dies of SIGPIPE, quietly, and the shell
 * reports 141 (128 + SIGPIPE). Node ignores SIGPIPE and raises EPIPE instead, which unhandled prints a stack
 * trace; exit as Go's would. Other stream errors are not ours to hide.
 */
const SIGPIPE_EXIT = 141;
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(SIGPIPE_EXIT);
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readStdin,
});
process.exitCode = code;
