import { parentPort, workerData } from "node:worker_threads";
import type { Bugs } from "../raft/config.js";
import type { ProposerBugs } from "./options.js";
import { runSeed } from "./run.js";

const { steps, bugs, proposerBugs } = workerData as {
  steps: number;
  bugs: Bugs;
  proposerBugs: ProposerBugs;
};
parentPort!.on("message", (seed: number) => {
  void runSeed({ seed, steps, bugs, proposerBugs }).then((r) => {
    // The trace is empty without --trace; send the result without it to keep messages small.
    parentPort!.postMessage({ ...r, trace: "" });
  });
});
