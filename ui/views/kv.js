/**
 * The KV browser: folders by `/` (live, through blocking `?keys&separator=/` reads), and one key's value,
 * flags and lock holder, edited and deleted only with `?cas=<ModifyIndex>`, so a change made meanwhile by
 * someone else is reported, never overwritten. Creating uses `?cas=0`: it never replaces an existing key.
 */

import { follow, getJson, kvPath, request } from "../api.js";
import { errorAlert } from "../parts.js";
import { html, nothing } from "../vendor/lit-html.js";

const UINT64 = /^[0-9]{1,20}$/;

/** The hash of a key or folder: segments escaped, so `#`, `?` and `%` in keys survive the URL. */
export function kvHash(key) {
  return `#/kv/${key.split("/").map(encodeURIComponent).join("/")}`;
}

function decodeHashKey(raw) {
  try {
    return raw.split("/").map(decodeURIComponent).join("/");
  } catch {
    return null;
  }
}

/** A value as text when it is UTF-8, else null (shown as base64). */
function asText(base64) {
  if (base64 === null || base64 === undefined) return "";
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

function crumbs(key) {
  const parts = key.split("/");
  const items = [html`<li><a href="#/kv/">(root)</a></li>`];
  for (let i = 0; i < parts.length - 1; i++) {
    const folder = `${parts.slice(0, i + 1).join("/")}/`;
    items.push(html`<li><a href=${kvHash(folder)}>${parts[i]}</a></li>`);
  }
  return html`<nav aria-label="Folders"><ol class="crumbs">${items}</ol></nav>`;
}

function alertOf(msg) {
  if (msg === null) return nothing;
  return html`<p class="alert ${msg.kind}" role=${msg.kind === "ok" ? "status" : "alert"}>${msg.text}</p>`;
}

function flagsError(flags) {
  return UINT64.test(flags)
    ? null
    : `Flags must be a whole number from 0 to 18446744073709551615, not "${flags}".`;
}

export function create(match, ctx) {
  const key = decodeHashKey(match[1] ?? "");
  if (key === null) {
    return {
      template: () => html`<h1>Key/Value</h1><p class="alert error" role="alert">Not a valid key path.</p>`,
      stop() {},
    };
  }
  return key === "" || key.endsWith("/") ? folderView(key, ctx) : keyView(key, ctx);
}

function folderView(prefix, ctx) {
  const controller = new AbortController();
  /** The keys and folders right under `prefix` (a 404 is none), as the last blocking read gave them. */
  const listing = { data: null, error: null };
  let message = null;
  let busy = false;
  follow(`${kvPath(prefix)}?keys&separator=/`, {
    signal: controller.signal,
    accept: [404],
    ...ctx.track(listing, (list) => list ?? []),
  });

  async function createKey(ev) {
    ev.preventDefault();
    const form = ev.target;
    const rel = form.elements.name.value;
    const flags = form.elements.flags.value.trim() || "0";
    const bad =
      rel === ""
        ? "Give the key a name."
        : rel.startsWith("/")
          ? "A key name cannot start with /."
          : flagsError(flags);
    if (bad !== null) {
      message = { kind: "error", text: bad };
      ctx.update();
      return;
    }
    const full = prefix + rel;
    busy = true;
    ctx.update();
    try {
      const r = await request("PUT", `${kvPath(full)}?cas=0&flags=${flags}`, {
        body: form.elements.value.value,
      });
      ctx.reached();
      if (r.text.trim() === "true") {
        ctx.go(kvHash(full));
        return;
      }
      message = { kind: "error", text: `A key named ${full} already exists: nothing was written.` };
    } catch (e) {
      ctx.failed(e);
      message = { kind: "error", text: e.message };
    }
    busy = false;
    ctx.update();
  }

  return {
    template() {
      const title = prefix === "" ? "Key/Value" : `Key/Value: ${prefix}`;
      return html`<h1>${title}</h1>
        ${crumbs(prefix)}
        ${errorAlert(listing.error)}
        ${
          listing.data === null
            ? html`<p class="muted">Loading…</p>`
            : listing.data.length === 0
              ? html`<p class="muted">No keys here.</p>`
              : html`<ul class="keys" aria-label="Keys and folders">
                ${listing.data.map(
                  (k) => html`<li>
                    <a href=${kvHash(k)}>${k.slice(prefix.length)}${k.endsWith("/") ? " (folder)" : ""}</a>
                  </li>`,
                )}
              </ul>`
        }
        <h2>Create a key${prefix === "" ? "" : ` under ${prefix}`}</h2>
        ${alertOf(message)}
        <form @submit=${createKey} aria-label="Create a key">
          <div class="field">
            <label for="kv-new-name">Name${prefix === "" ? "" : ` (after ${prefix})`}</label>
            <input id="kv-new-name" name="name" autocomplete="off" spellcheck="false">
          </div>
          <div class="field">
            <label for="kv-new-value">Value</label>
            <textarea id="kv-new-value" name="value" spellcheck="false"></textarea>
          </div>
          <div class="field">
            <label for="kv-new-flags">Flags</label>
            <input id="kv-new-flags" name="flags" inputmode="numeric" value="0">
          </div>
          <button type="submit" class="primary" ?disabled=${busy}>Create</button>
        </form>`;
    },
    stop() {
      controller.abort();
    },
  };
}

function keyView(key, ctx) {
  const controller = new AbortController();
  /** The entry as last loaded: its ModifyIndex is the cas of every edit and delete. */
  let entry;
  let holder = null;
  let error = null;
  let message = null;
  let confirmingDelete = false;
  let busy = false;

  async function load() {
    try {
      const r = await getJson(kvPath(key), { signal: controller.signal, accept: [404] });
      ctx.reached();
      entry = r.status === 404 ? null : r.json[0];
      error = null;
      holder = null;
      if (entry?.Session) {
        const s = await getJson(`/v1/session/info/${encodeURIComponent(entry.Session)}`, {
          signal: controller.signal,
        });
        holder = s.json?.[0] ?? null;
      }
    } catch (e) {
      if (controller.signal.aborted) return;
      ctx.failed(e);
      error = e;
    }
    ctx.update();
  }

  async function save(ev) {
    ev.preventDefault();
    const form = ev.target;
    const flags = form.elements.flags.value.trim();
    const bad = flagsError(flags);
    if (bad !== null) {
      message = { kind: "error", text: bad };
      ctx.update();
      return;
    }
    await write("PUT", `${kvPath(key)}?cas=${entry.ModifyIndex}&flags=${flags}`, form.elements.value?.value);
  }

  async function remove() {
    await write("DELETE", `${kvPath(key)}?cas=${entry.ModifyIndex}`, undefined);
  }

  /** A cas write; "false" means the key changed since it was loaded: reported, and the draft is kept. */
  async function write(method, path, body) {
    busy = true;
    ctx.update();
    try {
      const r = await request(method, path, body === undefined ? {} : { body });
      ctx.reached();
      if (r.text.trim() !== "true") {
        message = {
          kind: "error",
          text:
            `Conflict: ${key} was changed by someone else after it was loaded (at index ${entry.ModifyIndex}). ` +
            "Nothing was written. Reload to see the current value.",
        };
      } else if (method === "DELETE") {
        ctx.go(kvHash(key.slice(0, key.lastIndexOf("/") + 1)));
        return;
      } else {
        message = { kind: "ok", text: "Saved." };
        await load();
      }
    } catch (e) {
      ctx.failed(e);
      message = { kind: "error", text: e.message };
    }
    busy = false;
    confirmingDelete = false;
    ctx.update();
  }

  function reload() {
    message = null;
    entry = undefined;
    ctx.update();
    load();
  }

  load();

  function details() {
    const text = asText(entry.Value);
    return html`<dl class="meta">
        <dt>Modify index</dt>
        <dd data-testid="modify-index">${entry.ModifyIndex}</dd>
        <dt>Create index</dt>
        <dd>${entry.CreateIndex}</dd>
        <dt>Lock index</dt>
        <dd>${entry.LockIndex}</dd>
        <dt>Lock holder</dt>
        <dd data-testid="lock-holder">
          ${
            entry.Session
              ? `session ${entry.Session}${holder === null ? "" : ` (node ${holder.Node}${holder.Name ? `, ${holder.Name}` : ""})`}`
              : "none"
          }
        </dd>
      </dl>
      <form @submit=${save} aria-label="Edit ${key}">
        ${
          text === null
            ? html`<p id="kv-binary">Binary value, shown as base64 (read-only here):</p>
              <pre class="value" aria-labelledby="kv-binary">${entry.Value}</pre>`
            : html`<div class="field">
              <label for="kv-value">Value</label>
              <textarea id="kv-value" name="value" spellcheck="false" .value=${text}></textarea>
            </div>`
        }
        <div class="field">
          <label for="kv-flags">Flags</label>
          <input id="kv-flags" name="flags" inputmode="numeric" .value=${String(entry.Flags)}>
        </div>
        <div class="row">
          <button type="submit" class="primary" ?disabled=${busy}>Save</button>
          <button type="button" @click=${reload}>Reload</button>
          <button type="button" class="danger" ?disabled=${busy} @click=${() => {
            confirmingDelete = true;
            message = null;
            ctx.update();
          }}>Delete…</button>
        </div>
      </form>
      ${
        confirmingDelete
          ? html`<div class="alert warn" role="alertdialog" aria-label="Confirm delete">
            <p>Delete ${key}? Only if it is still at index ${entry.ModifyIndex}.</p>
            <div class="row">
              <button type="button" class="danger" ?disabled=${busy} @click=${remove}>Delete key</button>
              <button type="button" @click=${() => {
                confirmingDelete = false;
                ctx.update();
              }}>Cancel</button>
            </div>
          </div>`
          : nothing
      }`;
  }

  return {
    template() {
      return html`<h1>Key: ${key}</h1>
        ${crumbs(key)}
        ${alertOf(message)}
        ${errorAlert(error)}
        ${
          entry === undefined
            ? error === null
              ? html`<p class="muted">Loading…</p>`
              : nothing
            : entry === null
              ? html`<p>No key named ${key}.</p>`
              : details()
        }`;
    },
    stop() {
      controller.abort();
    },
  };
}
