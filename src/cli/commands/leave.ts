/** `leave`: as `consul leave`, asks the agent to leave the datacenter gracefully and shut down. */

import { httpClientFlags } from "../../client/index.js";
import { type Command, clientFrom, err, parseOrExit, usage } from "../command.js";
import { agentCall } from "./kv.js";

const leaveHelp = usage(
  `Usage: cairn leave [options]

  Causes the agent to gracefully leave the cairn datacenter and shut down: a leader hands over leadership
  first, and the server is removed from the Raft configuration.`,
  httpClientFlags,
);

export const leave: Command = {
  help: leaveHelp,
  async run(argv, io) {
    const parsed = parseOrExit(httpClientFlags, argv, io, leaveHelp);
    if (typeof parsed === "number") return parsed;
    if (parsed.args.length > 0) {
      err(io, `Too many arguments (expected 0, got ${parsed.args.length})`);
      return 1;
    }
    return agentCall(
      io,
      () => clientFrom(parsed, io),
      "Error leaving",
      (client) => client.agentLeave(),
      "Graceful leave complete",
    );
  },
};
