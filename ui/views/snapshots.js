/**
 * The snapshots view (`#/snapshots`): take a snapshot now (GET /v1/snapshot, bytes shown as they arrive, the
 * archive verified in the browser and offered as consul-<index>.snap), and restore from a file (its index, term
 * and records per type read in the browser beside the datacenter's current index, a modal confirmation, PUT /v1/snapshot with an
 * upload progress bar, and the agent's answer as it worded it; a bad archive changes nothing on the agent).
 */

import { ApiError, download, getJson, upload } from "../api.js";
import { archiveContents, archiveMeta, verifyArchive } from "../archive.js";
import { bytesText } from "../parts.js";
import { countsTable, countsText } from "../record-counts.js";
import { html, nothing } from "../vendor/lit-html.js";

function alertOf(msg) {
  if (msg === null) return nothing;
  return html`<p class="alert ${msg.kind}" role=${msg.kind === "ok" ? "status" : "alert"}>${msg.text}</p>`;
}

/** The leader's last raft index (autopilot's view): the same counter as an archive's Index. */
async function currentIndex(signal) {
  try {
    const r = await getJson("/v1/operator/autopilot/health", { signal, accept: [429] });
    return { index: r.json?.Servers?.find((s) => s.Leader)?.LastIndex ?? null, error: null };
  } catch (e) {
    return { index: null, error: e instanceof ApiError ? e.message : String(e.message) };
  }
}

export function create(_match, ctx) {
  const controller = new AbortController();
  /** Taking a snapshot: { bytes, expected } while it arrives; then the offered file, or the failure. */
  const take = { busy: false, bytes: 0, expected: null, file: null, message: null };
  /**
   * Restoring: the picked file, what its meta.json says, its records per type (counted after meta.json is
   * shown, as they need the whole file read), the datacenter's index, the upload, the result.
   */
  const restore = {
    file: null,
    meta: null,
    readError: null,
    counts: null,
    countsError: null,
    current: null,
    sent: null,
    total: null,
    message: null,
  };

  async function takeNow() {
    if (take.file !== null) URL.revokeObjectURL(take.file.url);
    Object.assign(take, { busy: true, bytes: 0, expected: null, file: null, message: null });
    ctx.update();
    try {
      const { index, blob } = await download("/v1/snapshot", {
        signal: controller.signal,
        onProgress: (bytes, expected) => {
          take.bytes = bytes;
          take.expected = expected;
          ctx.update();
        },
      });
      ctx.reached();
      const { meta, verified } = await verifyArchive(blob);
      take.file = { url: URL.createObjectURL(blob), name: `consul-${index}.snap`, size: blob.size, meta };
      take.message = {
        kind: "ok",
        text: verified
          ? `Snapshot at index ${meta.Index} (term ${meta.Term}) verified: both SHA-256 sums match.`
          : `Snapshot at index ${meta.Index} (term ${meta.Term}) read, but not verified: this page is not in a secure context.`,
      };
    } catch (e) {
      if (controller.signal.aborted) return;
      ctx.failed(e);
      take.message = { kind: "error", text: e.message };
    }
    take.busy = false;
    ctx.update();
  }

  async function pick(ev) {
    const file = ev.target.files?.[0] ?? null;
    Object.assign(restore, {
      file,
      meta: null,
      readError: null,
      counts: null,
      countsError: null,
      current: null,
      sent: null,
      message: null,
    });
    ctx.update();
    if (file === null) return;
    const [meta, current] = await Promise.all([
      archiveMeta(file).catch((e) => {
        restore.readError = e.message;
        return null;
      }),
      currentIndex(controller.signal),
    ]);
    if (restore.file !== file) return;
    restore.meta = meta;
    restore.current = current;
    ctx.update();
    if (meta === null) return;
    try {
      const counts = await archiveContents(file);
      if (restore.file !== file) return;
      restore.counts = counts;
    } catch (e) {
      if (restore.file !== file) return;
      restore.countsError = e.message;
    }
    ctx.update();
  }

  function countsPart() {
    if (restore.meta === null) return nothing;
    if (restore.countsError !== null) {
      return html`<p class="alert warn" role="alert">
        The records could not be counted: ${restore.countsError}. The agent checks the file again and will refuse
        it if it is not a good archive.
      </p>`;
    }
    if (restore.counts === null)
      return html`<p class="muted" role="status">Counting the archive's records…</p>`;
    return countsTable(
      restore.counts,
      `Records in ${restore.file.name}, as cairn snapshot inspect counts them`,
    );
  }

  function dialog() {
    return document.getElementById("restore-dialog");
  }

  function ask() {
    const d = dialog();
    // showModal makes the rest of the page inert (focus stays in the dialog) and Esc cancels it.
    if (d !== null && !d.open) d.showModal();
  }

  async function send() {
    dialog()?.close();
    const file = restore.file;
    Object.assign(restore, { sent: 0, total: file.size, message: null });
    ctx.update();
    try {
      await upload("PUT", "/v1/snapshot", file, {
        onProgress: (sent, total) => {
          restore.sent = sent;
          restore.total = total;
          ctx.update();
        },
      });
      ctx.reached();
      restore.message = {
        kind: "ok",
        text: `Restored ${file.name}${restore.meta === null ? "" : ` (index ${restore.meta.Index})`}.`,
      };
    } catch (e) {
      ctx.failed(e);
      restore.message = { kind: "error", text: `The agent refused the restore: ${e.message}` };
    }
    restore.sent = null;
    ctx.update();
  }

  function takeSection() {
    return html`<section aria-labelledby="take-h">
      <h2 id="take-h">Take a snapshot now</h2>
      <p>Downloads an archive of the whole datacenter (every key, service and ACL token: keep it safe).</p>
      <button type="button" class="primary" @click=${takeNow} ?disabled=${take.busy}>Take a snapshot</button>
      ${
        take.busy
          ? html`<p role="status">
              Received ${bytesText(take.bytes)}${take.expected === null ? "" : ` of about ${bytesText(take.expected)}`}…
            </p>`
          : nothing
      }
      ${alertOf(take.message)}
      ${
        take.file === null
          ? nothing
          : html`<p>
              <a class="button" href=${take.file.url} download=${take.file.name}>Save ${take.file.name}</a>
              <span class="muted">${bytesText(take.file.size)}</span>
            </p>`
      }
    </section>`;
  }

  function preview() {
    if (restore.file === null) return nothing;
    if (restore.current === null) return html`<p class="muted">Reading ${restore.file.name}…</p>`;
    const m = restore.meta;
    return html`${
      restore.readError === null
        ? nothing
        : html`<p class="alert warn" role="alert">
            This page could not read the file: ${restore.readError}. The agent checks it again and will refuse it
            if it is not a good archive.
          </p>`
    }
      <dl class="meta" data-testid="archive-meta">
        <dt>File</dt>
        <dd>${restore.file.name} (${bytesText(restore.file.size)})</dd>
        <dt>Archive index</dt>
        <dd data-testid="archive-index">${m?.Index ?? "unknown"}</dd>
        <dt>Archive term</dt>
        <dd data-testid="archive-term">${m?.Term ?? "unknown"}</dd>
        <dt>Datacenter's current index</dt>
        <dd data-testid="current-index">${restore.current.index ?? `unknown (${restore.current.error ?? "no leader"})`}</dd>
      </dl>
      ${countsPart()}
      <button type="button" class="danger" @click=${ask} ?disabled=${restore.sent !== null}>Restore…</button>`;
  }

  function restoreSection() {
    const m = restore.meta;
    return html`<section aria-labelledby="restore-h">
      <h2 id="restore-h">Restore from a file</h2>
      <div class="field">
        <label for="restore-file">Snapshot file</label>
        <input id="restore-file" type="file" accept=".snap,.gz,application/gzip" @change=${pick}
          ?disabled=${restore.sent !== null}>
      </div>
      ${preview()}
      ${
        restore.sent === null
          ? nothing
          : html`<div class="field">
              <label for="restore-progress">Uploading</label>
              <progress id="restore-progress" max=${restore.total ?? 1} value=${restore.sent}></progress>
              <span role="status">${bytesText(restore.sent)} of ${bytesText(restore.total ?? 0)} sent</span>
            </div>`
      }
      ${alertOf(restore.message)}
      <dialog id="restore-dialog" aria-labelledby="restore-dialog-h">
        <h2 id="restore-dialog-h">Replace the datacenter's state?</h2>
        <p>
          Every server's state is replaced by ${restore.file?.name ?? "the file"}
          (index ${m?.Index ?? "unknown"}, term ${m?.Term ?? "unknown"}); the datacenter is now at index
          ${restore.current?.index ?? "unknown"}. Whatever was written since the archive was taken is lost.
        </p>
        <p data-testid="dialog-counts">
          The archive holds
          ${restore.counts === null ? "records not counted yet" : `${countsText(restore.counts)}`}.
        </p>
        <div class="row">
          <button type="button" class="danger" @click=${send}>Restore</button>
          <button type="button" autofocus @click=${() => dialog()?.close()}>Cancel</button>
        </div>
      </dialog>
    </section>`;
  }

  return {
    template() {
      return html`<h1>Snapshots</h1>${takeSection()}${restoreSection()}`;
    },
    stop() {
      controller.abort();
      if (take.file !== null) URL.revokeObjectURL(take.file.url);
      if (dialog()?.open) dialog().close();
    },
  };
}
