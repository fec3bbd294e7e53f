/**
 * Port checks for `npm start`: before starting three servers, find out whether each address:port can be listened
 * on, so a busy port is reported in words instead of as a child's stack trace. Plain JavaScript because start.mjs
 * runs before (and decides about) the TypeScript build.
 */
import { createServer } from "node:net";

/**
 * Tries to listen on host:port and closes at once.
 * @param {string} host
 * @param {number} port
 * @returns {Promise<string | null>} null when the port is free, else the error code (EADDRINUSE, EADDRNOTAVAIL, ...)
 */
export function portProblem(host, port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (/** @type {NodeJS.ErrnoException} */ err) => resolve(err.code ?? err.message));
    // exclusive: a cluster-mode parent must not hand us a shared handle, which would hide a busy port.
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/**
 * The line printed for a port that cannot be used.
 * @param {string} host
 * @param {number} port
 * @param {string} code
 */
export function portMessage(host, port, code) {
  if (code === "EADDRINUSE") return `port ${port} on ${host} is busy: is another cairn or consul running?`;
  if (code === "EADDRNOTAVAIL") {
    // Linux routes all of 127.0.0.0/8 to loopback; macOS has only 127.0.0.1 until aliases are added.
    return `address ${host} is not available on this machine (on macOS: sudo ifconfig lo0 alias ${host} up)`;
  }
  return `cannot listen on ${host}:${port}: ${code}`;
}

/**
 * Checks every host × port, one at a time (concurrent checks of one port would collide with each other).
 * @param {readonly string[]} hosts
 * @param {readonly number[]} ports
 * @returns {Promise<string[]>} one message per unusable address:port, empty when all are free
 */
export async function checkPorts(hosts, ports) {
  const problems = [];
  for (const host of hosts) {
    for (const port of ports) {
      const code = await portProblem(host, port);
      if (code !== null) problems.push(portMessage(host, port, code));
    }
  }
  return problems;
}
