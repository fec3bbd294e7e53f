/**
 * An archive's records per type (archive.js archiveContents), as `cairn snapshot inspect` lists them: shown in
 * the restore confirmation (snapshots view) and for an inspected file (backups view).
 */
import { bytesText } from "./parts.js";
import { html } from "./vendor/lit-html.js";

/** "6 KVS, 3 Register, 1 Index": the counts in one line, largest types first. */
export function countsText(contents) {
  return contents.stats.map((s) => `${s.Count} ${s.Name}`).join(", ") || "no records";
}

/** The table: type, count, bytes (as inspect's Size), and the totals. */
export function countsTable(contents, caption) {
  const records = contents.stats.reduce((n, s) => n + s.Count, 0);
  return html`<div class="scroll" role="region" aria-label=${caption} tabindex="0">
    <table data-testid="record-counts">
      <caption>
        ${caption}
      </caption>
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col" class="num">Count</th>
          <th scope="col" class="num">Size</th>
        </tr>
      </thead>
      <tbody>
        ${contents.stats.map(
          (s) => html`<tr data-type=${s.Name}>
            <th scope="row">${s.Name}</th>
            <td class="num">${s.Count}</td>
            <td class="num">${bytesText(s.Sum)}</td>
          </tr>`,
        )}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          <td class="num">${records}</td>
          <td class="num">${bytesText(contents.totalSize)}</td>
        </tr>
      </tfoot>
    </table>
  </div>`;
}
