/** `snapshot agent`: the snapshot agent runs in this process (src/snapshot-agent). */

import { snapshotAgentUsage } from "../../snapshot-agent/config.js";
import { runSnapshotAgent } from "../../snapshot-agent/main.js";
import type { Command } from "../command.js";

export const snapshotAgent: Command = {
  help: snapshotAgentUsage(),
  run: (args, io) => runSnapshotAgent(args, io),
};
