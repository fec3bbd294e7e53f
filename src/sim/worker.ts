import { parentPort, workerData } from "node:worker_threads";
import type { Bugs } from "../raft/config.js";
import { runSeed } from "./run.js";

const { steps, bugs } = workerData as { steps: number; bugs: Bugs };
parentPort!.on("message", (seed: number) => {
  const r = runSeed({ seed, steps, bugs });
  // The trace is empty without --trace; send the result without it to keep messages small.
  parentPort!.postMessage({ ...r, trace: "" });
});
