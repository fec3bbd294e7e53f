/** `reload`: as `consul reload` (command/reload/reload.go), PUT /v1/agent/reload. */
import { httpClientFlags } from "../../client/index.js";
import { type Command, clientFrom, parseOrExit, usage } from "../command.js";
import { agentCall } from "./kv.js";

const help = usage(
  `Usage: cairn reload

  Causes the agent to reload configurations. This can be used instead
  of sending the SIGHUP signal to the agent. cairn reloads the services and
  checks of the config files; other settings are read only at start.`,
  httpClientFlags,
);

export const reload: Command = {
  help,
  async run(argv, io) {
    const parsed = parseOrExit(httpClientFlags, argv, io, help);
    if (typeof parsed === "number") return parsed;
    return agentCall(
      io,
      () => clientFrom(parsed, io),
      "Error reloading",
      (client) => client.agentReload(),
      "Configuration reload triggered",
    );
  },
};
