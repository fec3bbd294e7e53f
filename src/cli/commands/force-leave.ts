/**
 * `force-leave NODE`: as `consul force-leave` (command/forceleave/forceleave.go), PUT /v1/agent/force-leave/NODE.
 * In cairn that removes the named server from the Raft configuration (docs/consul-compat.md §8.7b), or deregisters
 * the named client agent's node (docs/membership.md). Prints nothing on success, as Consul.
 */
import { httpClientFlags, httpServerFlags } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { type Command, clientFrom, err, parseOrExit, usage } from "../command.js";
import { agentCall } from "./kv.js";

const flags = {
  ...httpClientFlags,
  ...httpServerFlags,
  prune: flag.bool(false, "Remove agent completely from list of members"),
  wan: flag.bool(false, "Exclusively leave the agent from the WAN serf pool."),
};

const help = usage(
  `Usage: cairn force-leave [options] name

  Forces a member of a cairn datacenter to leave it. cairn has no gossip "left" state: the named server is
  removed from the Raft configuration (as "cairn operator raft remove-peer" does) and does not come back by
  itself; the named client agent's node is deregistered (a client still running registers again at its next
  heartbeat). This command is most useful for cleaning out failed nodes that are never coming back.`,
  flags,
);

export const forceLeave: Command = {
  help,
  async run(argv, io) {
    const parsed = parseOrExit(flags, argv, io, help);
    if (typeof parsed === "number") return parsed;
    const node = parsed.args[0];
    if (node === undefined || parsed.args.length !== 1) {
      err(io, "A single node name must be specified to force leave.");
      err(io, "");
      err(io, help);
      return 1;
    }
    const v = parsed.values;
    return agentCall(
      io,
      () => clientFrom(parsed, io),
      "Error force leaving",
      (client) => client.agentForceLeave(node, { prune: v.prune, wan: v.wan }),
    );
  },
};
