#!/usr/bin/env node
/**
 * The `cairn` executable. `cairn agent ...` runs a server agent (the composition root in agent-main.ts wires
 * server/ and http/); every other subcommand is the CLI, which talks to an agent over HTTP like any client.
 */
if (process.argv[2] === "agent") {
  const { runAgent } = await import("./agent/main.js");
  process.exitCode = await runAgent(process.argv.slice(3));
} else {
  await import("./cli/main.js");
}
