/** Pieces of markup more than one view uses. */
import { html, nothing } from "./vendor/lit-html.js";

/** A failure as the agent worded it (a 403's reason included), announced to screen readers; nothing for null. */
export function errorAlert(error) {
  return error === null ? nothing : html`<p class="alert error" role="alert">${error.message}</p>`;
}

/** A byte count for people: 512 bytes, 3.4 KiB, 12.0 MiB. */
export function bytesText(n) {
  return n < 1024
    ? `${n} bytes`
    : n < 1 << 20
      ? `${(n / 1024).toFixed(1)} KiB`
      : `${(n / (1 << 20)).toFixed(1)} MiB`;
}
