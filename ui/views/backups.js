/**
 * The Backups view (`#/backups`, or `#/backups/<key>` for an agent with another `history_key`): the snapshot
 * agent's history, as its active agent keeps it in KV (docs/snapshot-agent.md), followed with a blocking query
 * so a new backup shows up without a reload. The agent's status, charts of archive size and backup duration over
 * time with anomalies marked (backup-history.js says which), and a table that carries the same facts as the
 * charts for keyboards and screen readers; and the records per type of a backup file picked here (inspect). The
 * chart library loads only here, only once there is data.
 */

import { follow, kvPath } from "../api.js";
import { archiveContents } from "../archive.js";
import { decodeHistory, durationText, staleness, withAnomalies } from "../backup-history.js";
import { bytesText, errorAlert } from "../parts.js";
import { countsTable } from "../record-counts.js";
import { html, nothing } from "../vendor/lit-html.js";

const DEFAULT_KEY = "consul-snapshot/history";
const ANOMALY_COLOUR = "#b00020";

let uPlotLoading = null;

/**
 * uPlot's minified build, as a classic script (51 KB against 145 KB for its unminified ESM build, the only ESM
 * one it ships): a script element from this origin, which the CSP's script-src 'self' allows, and its stylesheet.
 */
function loadUPlot() {
  if (uPlotLoading === null) {
    uPlotLoading = new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = "vendor/uPlot.min.css";
      document.head.append(css);
      const script = document.createElement("script");
      script.src = "vendor/uPlot.iife.min.js";
      script.addEventListener("load", () => resolve(globalThis.uPlot));
      script.addEventListener("error", () => {
        uPlotLoading = null;
        script.remove();
        reject(new Error("the chart library could not be loaded"));
      });
      document.head.append(script);
    });
  }
  return uPlotLoading;
}

function timeText(ms) {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

function drillText(d) {
  if (d === undefined) return html`<span class="muted">none</span>`;
  return d.ok
    ? html`passed (${d.keys} keys, ${d.seconds.toFixed(1)} s)`
    : html`<span class="badge bad">failed</span> ${d.error}`;
}

/** The two charts: what each plots of an entry (null: no point), and how its axis reads. */
const CHARTS = [
  {
    id: "size",
    title: "Archive size",
    value: (e) => (e.error === undefined ? e.size : null),
    anomaly: (e) => (e.error === undefined ? e.size : 0),
    axis: (v) => bytesText(Math.max(0, Math.round(v))),
  },
  {
    id: "duration",
    title: "Backup duration",
    value: (e) => (e.durationMs === null ? null : e.durationMs / 1000),
    anomaly: (e) => (e.durationMs === null ? 0 : e.durationMs / 1000),
    axis: (v) => durationText(Math.max(0, v * 1000)),
  },
];

export function create(match, ctx) {
  const key = match[1] === undefined || match[1] === "" ? DEFAULT_KEY : decodeURIComponent(match[1]);
  const controller = new AbortController();
  /** The history document (null: no key yet), or why it could not be read. */
  const live = { loaded: false, doc: null, error: null, entries: [] };
  /** id → uPlot instance; chartError: the library could not be loaded. */
  const charts = new Map();
  let chartError = null;
  /** Inspecting a file: the file, then its contents or why they could not be read. */
  const inspect = { file: null, contents: null, error: null };

  async function inspectFile(ev) {
    const file = ev.target.files?.[0] ?? null;
    Object.assign(inspect, { file, contents: null, error: null });
    ctx.update();
    if (file === null) return;
    try {
      const contents = await archiveContents(file);
      if (inspect.file === file) inspect.contents = contents;
    } catch (e) {
      if (inspect.file === file) inspect.error = e;
    }
    ctx.update();
  }

  function inspectSection() {
    const c = inspect.contents;
    return html`<section aria-labelledby="inspect-h">
      <h2 id="inspect-h">Inspect a backup file</h2>
      <p class="muted">
        The records of one archive per type, read in this page (an encrypted <code>.snap.enc</code> must be
        decrypted first: <code>cairn snapshot inspect</code> does that with the key).
      </p>
      <div class="field">
        <label for="inspect-file">Backup file</label>
        <input id="inspect-file" type="file" accept=".snap,.gz,application/gzip" @change=${inspectFile}>
      </div>
      ${inspect.file !== null && c === null && inspect.error === null ? html`<p class="muted" role="status">Reading ${inspect.file.name}…</p>` : nothing}
      ${errorAlert(inspect.error)}
      ${
        c === null
          ? nothing
          : html`<dl class="meta" data-testid="inspect-meta">
                <dt>Index</dt>
                <dd>${c.meta.Index}</dd>
                <dt>Term</dt>
                <dd>${c.meta.Term}</dd>
                <dt>ID</dt>
                <dd>${c.meta.ID}</dd>
              </dl>
              ${countsTable(c, `Records in ${inspect.file.name}`)}`
      }
    </section>`;
  }

  follow(kvPath(key), {
    signal: controller.signal,
    accept: [404],
    onData: (pairs) => {
      live.loaded = true;
      live.error = null;
      try {
        live.doc = pairs === null ? null : decodeHistory(pairs);
      } catch (e) {
        live.doc = null;
        live.error = e;
      }
      live.entries = live.doc === null ? [] : withAnomalies(live.doc.entries, live.doc.status.intervalMs);
      ctx.reached();
      ctx.update();
      drawCharts();
    },
    onError: (e) => {
      live.error = e;
      ctx.failed(e);
      ctx.update();
    },
  });

  async function drawCharts() {
    const entries = live.entries;
    if (entries.length === 0) return;
    let uPlot;
    try {
      uPlot = await loadUPlot();
    } catch (e) {
      chartError = e;
      ctx.update();
      return;
    }
    if (controller.signal.aborted || entries !== live.entries) return;
    const xs = entries.map((e) => e.timeMs / 1000);
    for (const c of CHARTS) {
      const target = document.getElementById(`chart-${c.id}`);
      if (target === null) continue;
      const data = [
        xs,
        entries.map(c.value),
        entries.map((e) => (e.anomalies.length > 0 ? c.anomaly(e) : null)),
      ];
      const had = charts.get(c.id);
      if (had !== undefined && had.root.parentElement === target) {
        had.setData(data);
        continue;
      }
      had?.destroy();
      charts.set(c.id, new uPlot(chartOptions(c, target), data, target));
    }
  }

  function chartOptions(c, target) {
    return {
      width: Math.max(260, target.clientWidth),
      height: 200,
      legend: { show: false },
      cursor: { show: false },
      // Sizes and durations from 0, so a drop looks as large as it is.
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{}, { values: (_u, ticks) => ticks.map(c.axis), size: 84 }],
      series: [
        {},
        { label: c.title, stroke: "#1f5fa8", width: 2, spanGaps: true, points: { show: true, size: 6 } },
        {
          label: "Anomaly",
          stroke: ANOMALY_COLOUR,
          fill: ANOMALY_COLOUR,
          paths: () => null,
          points: { show: true, size: 12, stroke: ANOMALY_COLOUR, fill: ANOMALY_COLOUR },
        },
      ],
    };
  }

  function resize() {
    for (const chart of charts.values()) {
      const w = chart.root.parentElement?.clientWidth ?? 0;
      if (w > 0) chart.setSize({ width: Math.max(260, w), height: 200 });
    }
  }
  window.addEventListener("resize", resize);

  function status(doc) {
    const s = doc.status;
    return html`<dl class="meta" data-testid="backup-status">
      <dt>Active agent</dt>
      <dd>${s.agent}</dd>
      <dt>Interval</dt>
      <dd>${durationText(s.intervalMs)}</dd>
      <dt>Next backup</dt>
      <dd>${timeText(s.nextRunMs)}</dd>
      <dt>Last error</dt>
      <dd>${s.lastError === "" ? "none" : html`<span class="badge bad">error</span> ${s.lastError}`}</dd>
      <dt>History written</dt>
      <dd>${timeText(doc.updatedMs)}</dd>
    </dl>`;
  }

  function chartFigures(entries) {
    const stored = entries.filter((e) => e.error === undefined).length;
    return html`<div class="charts">
      ${CHARTS.map(
        (c) => html`<figure class="chart" data-chart=${c.id} data-points=${entries.length}>
          <figcaption id=${`chart-${c.id}-cap`}>
            ${c.title} over time (${stored} backups${
              entries.length > stored ? `, ${entries.length - stored} failed` : ""
            }; anomalies in red). The table below has the same facts.
          </figcaption>
          <div id=${`chart-${c.id}`} role="img" aria-labelledby=${`chart-${c.id}-cap`}></div>
        </figure>`,
      )}
    </div>`;
  }

  function table(entries) {
    return html`<div class="scroll" role="region" aria-label="Backup history" tabindex="0">
      <table data-testid="backup-table">
        <caption>
          ${entries.length} backup attempts, newest first
        </caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col" class="num">Index</th>
            <th scope="col" class="num">Size</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col">Verified</th>
            <th scope="col">Destination</th>
            <th scope="col">Restore drill</th>
            <th scope="col">Anomalies</th>
          </tr>
        </thead>
        <tbody>
          ${[...entries].reverse().map(
            (e) => html`<tr data-backup=${e.name} class=${e.anomalies.length > 0 ? "anomaly" : ""}>
              <th scope="row">${timeText(e.timeMs)}</th>
              <td class="num">${e.index === 0 ? html`<span class="muted">unknown</span>` : e.index}</td>
              <td class="num">${e.error === undefined ? bytesText(e.size) : "—"}</td>
              <td class="num">
                ${e.durationMs === null ? html`<span class="muted">unknown</span>` : durationText(e.durationMs)}
              </td>
              <td>${e.verified ? "yes" : html`<span class="badge bad">no</span>`}</td>
              <td class="wrap">
                ${
                  e.error !== undefined
                    ? html`<span class="muted">not stored</span>`
                    : e.destinations.length === 0
                      ? html`<span class="muted">deleted by retention</span>`
                      : e.destinations.map((d) => html`<span class="destination">${d}</span> `)
                }
              </td>
              <td>${drillText(e.drill)}</td>
              <td class="wrap">
                ${
                  e.anomalies.length === 0
                    ? html`<span class="muted">none</span>`
                    : e.anomalies.map((a) => html`<span class="badge bad">${a}</span> `)
                }
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  function body() {
    if (!live.loaded) return live.error === null ? html`<p class="muted">Loading…</p>` : nothing;
    if (live.doc === null) {
      return live.error !== null
        ? nothing
        : html`<p data-testid="no-history">
            No backup history yet: no snapshot agent has written <code>${key}</code>. Run
            <code>cairn snapshot agent</code> (it writes the history after each backup), or open
            <code>#/backups/&lt;key&gt;</code> for an agent with another <code>history_key</code>, or the token may
            not read this key.
          </p>`;
    }
    const entries = live.entries;
    const anomalous = entries.filter((e) => e.anomalies.length > 0).length;
    // Re-checked at every answer of the blocking query (at least every wait, 30 s).
    const stale = staleness(live.doc, Date.now());
    return html`${status(live.doc)}
      ${stale === null ? nothing : html`<p class="alert warn" data-testid="stale">${stale}</p>`}
      ${
        anomalous === 0
          ? nothing
          : html`<p class="alert warn" data-testid="anomaly-summary">
              ${anomalous} of ${entries.length} backup attempts need a look: see the Anomalies column.
            </p>`
      }
      ${entries.length === 0 ? html`<p>No backups yet.</p>` : chartFigures(entries)}
      ${errorAlert(chartError)}
      ${entries.length === 0 ? nothing : table(entries)}`;
  }

  return {
    template() {
      return html`<h1>Backups</h1>
        <p class="muted">The snapshot agent's backups, as its active agent records them in <code>${key}</code>.</p>
        ${errorAlert(live.error)}
        ${body()}
        ${inspectSection()}`;
    },
    stop() {
      controller.abort();
      window.removeEventListener("resize", resize);
      for (const chart of charts.values()) chart.destroy();
      charts.clear();
    },
  };
}
