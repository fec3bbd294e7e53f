import { parentPort, workerData } from "node:worker_threads";
import type { Bugs } from "../raft/config.js";
import type { ProposerBugs } from "./options.js";
import { type Driver, runSeedOn } from "./real-run.js";

const { driver, steps, bugs, proposerBugs } = workerData as {
  driver: Driver;
  steps: number;
  bugs: Bugs;
  proposerBugs: ProposerBugs;
};
parentPort!.on("message", (seed: number) => {
  void runSeedOn(driver, { seed, steps, bugs, proposerBugs }).then((r) => {
    // The trace is empty without --trace; send the result without it to keep messages small.
    parentPort!.postMessage({ ...r, trace: "" });
  });
});
