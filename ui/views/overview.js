/**
 * The overview: the servers of the datacenter, from the raft configuration, autopilot's health and the leader,
 * polled (none of the three supports blocking queries) every POLL_MS, with backoff while the agent is away; and
 * its client agents (overview-clients.js), followed with blocking queries.
 */

import { ApiError, getJson, poll } from "../api.js";
import { errorAlert } from "../parts.js";
import { html, nothing } from "../vendor/lit-html.js";
import { clientsSection } from "./overview-clients.js";

const POLL_MS = 2000;

/**
 * The three reads together. The membership is read `?stale`, so any server answers it even without a leader;
 * autopilot's health only the leader knows (each follower's progress), so without a leader it is left out.
 * Autopilot answers 429 with the same body when the datacenter is unhealthy.
 */
async function load(signal) {
  const [leader, config, health] = await Promise.all([
    getJson("/v1/status/leader", { signal }),
    getJson("/v1/operator/raft/configuration?stale", { signal }),
    getJson("/v1/operator/autopilot/health", { signal, accept: [429] }).catch((e) => {
      if (e instanceof ApiError && e.status >= 500) return { json: undefined };
      throw e;
    }),
  ]);
  return { leader: leader.json ?? "", config: config.json, health: health.json, at: new Date() };
}

/** One row per server: the configuration's membership, with autopilot's view of each where it has one. */
export function serverRows(state) {
  const byId = new Map((state.health?.Servers ?? []).map((s) => [s.ID, s]));
  const servers = state.config?.Servers ?? [];
  const leaderIndex = (state.health?.Servers ?? []).find((s) => s.Leader)?.LastIndex;
  return servers.map((s) => {
    const h = byId.get(s.ID);
    const role = s.Leader ? "leader" : s.Voter ? "follower" : "non-voter";
    return {
      id: s.ID,
      name: s.Node,
      address: s.Address,
      role,
      lastIndex: h?.LastIndex,
      trails:
        h === undefined || leaderIndex === undefined ? undefined : Math.max(0, leaderIndex - h.LastIndex),
      lastContact: h?.LastContact,
      healthy: h?.Healthy,
      voter: s.Voter,
    };
  });
}

/** Warnings an operator must see first: no leader, no quorum, no failure tolerance. */
export function warnings(state, rows) {
  const out = [];
  if (state.leader === "" || !rows.some((r) => r.role === "leader")) {
    out.push("No leader: the datacenter accepts no writes and no consistent reads until one is elected.");
  }
  const voters = rows.filter((r) => r.voter);
  const quorum = Math.floor(voters.length / 2) + 1;
  const healthy = voters.filter((r) => r.healthy === true).length;
  // Without autopilot's answer (no leader) health is unknown: the no-leader warning says enough.
  if (state.health === undefined) return out;
  if (voters.length > 0 && healthy < quorum) {
    out.push(`No quorum: ${healthy} of ${voters.length} voting servers are healthy; ${quorum} are needed.`);
  } else if (state.health.FailureTolerance === 0 && voters.length > 1) {
    out.push("No failure tolerance: losing one more server loses the quorum.");
  }
  return out;
}

function cell(v) {
  return v === undefined ? html`<span class="muted">unknown</span>` : String(v);
}

export function create(_match, ctx) {
  const controller = new AbortController();
  /** The latest answers of the three reads (`live.data`), or why the last try failed (`live.error`). */
  const live = { data: null, error: null };
  poll(() => load(controller.signal), { signal: controller.signal, intervalMs: POLL_MS, ...ctx.track(live) });
  const clients = clientsSection(ctx, controller.signal);

  function table(rows) {
    return html`<div class="scroll" role="region" aria-label="Servers" tabindex="0">
      <table>
        <caption>
          Servers of the datacenter, as of ${live.data.at.toLocaleTimeString()}
        </caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Address</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Last index</th>
            <th scope="col" class="num">Trails leader by</th>
            <th scope="col">Last contact</th>
            <th scope="col">Healthy</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (r) => html`<tr data-server=${r.name}>
              <th scope="row">${r.name}</th>
              <td>${r.address}</td>
              <td><span class="badge ${r.role === "leader" ? "leader" : ""}">${r.role}</span></td>
              <td class="num">${cell(r.lastIndex)}</td>
              <td class="num">${cell(r.trails)}</td>
              <td>${cell(r.lastContact)}</td>
              <td>
                ${
                  r.healthy === undefined
                    ? cell(undefined)
                    : r.healthy
                      ? "healthy"
                      : html`<span class="badge bad">unhealthy</span>`
                }
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  return {
    template() {
      const rows = live.data === null ? [] : serverRows(live.data);
      return html`<h1>Datacenter overview</h1>
        <h2>Servers</h2>
        ${errorAlert(live.error)}
        ${
          live.data === null
            ? live.error === null
              ? html`<p class="muted">Loading…</p>`
              : nothing
            : html`${warnings(live.data, rows).map((w) => html`<p class="alert warn" role="alert">${w}</p>`)}
              <dl class="meta">
                <dt>Leader</dt>
                <dd data-testid="leader">${live.data.leader === "" ? "none" : live.data.leader}</dd>
                <dt>Failure tolerance</dt>
                <dd>${live.data.health?.FailureTolerance ?? "unknown"}</dd>
              </dl>
              ${table(rows)}`
        }
        ${clients.template()}`;
    },
    stop() {
      controller.abort();
    },
  };
}
