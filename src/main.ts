#!/usr/bin/env node
/**
 * The `cairn` executable. `cairn agent ...` runs a server agent (the composition root in agent/main.ts wires
 * server/, api/, local/ and http/); every other subcommand is the CLI, which talks to an agent over HTTP like any
 * client.
 */
if (process.argv[2] === "agent") {
  const { runAgent } = await import("./agent/main.js");
  const code = await runAgent(process.argv.slice(3));
  // The agent has stopped all it owns (raft, data dir, listeners). Exit now: a blocking query whose client went
  // away would otherwise keep the process alive until its wait ran out.
  process.exit(code);
} else {
  await import("./cli/main.js");
}
