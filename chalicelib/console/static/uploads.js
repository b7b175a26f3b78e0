// The Uploads view: history newest first (filter by table), one upload's details with its
// warnings, its rejected rows summarised by reason exactly as `ingest rejected` does, their
// download, and a re-drive where the API says one can help.

import { api, ApiError, badge, el, formatDate, formatNumber, labelCells, row } from "./api.js";
import { UPLOAD_ID } from "./contract.js";
import { optionPhrase } from "./files.js";

const EXAMPLES = 5;
// The same rules as ingest_cli/render.py's reason_of: the row's own values taken out, so like
// reasons group together.
const QUOTED = /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g;
const LEADING_VALUE = /^([a-z_]+: )-?[0-9.eE+]+(?= is )/;
const ROW_NUMBER = /\brow [0-9]+/g;
const DETAIL = / \([^()]*\)$/;

export function reasonOf(error) {
  let reason = String(error).replace(QUOTED, "…");
  reason = reason.replace(LEADING_VALUE, "$1…");
  reason = reason.replace(ROW_NUMBER, "row N");
  return reason.replace(DETAIL, "").trim();
}

export class RejectedSummary {
  constructor(keep = EXAMPLES) {
    this.rows = 0;
    this.reasons = new Map(); // reason -> {rows, first}
    this.examples = [];
    this.keep = keep;
  }

  add(entry) {
    this.rows += 1;
    const errors = entry.errors?.length ? entry.errors : ["(no reason given)"];
    for (const error of errors) {
      const reason = reasonOf(error);
      const seen = this.reasons.get(reason) || { rows: 0, first: [] };
      seen.rows += 1;
      if (seen.first.length < 3) seen.first.push(Number(entry.row || 0));
      this.reasons.set(reason, seen);
    }
    if (this.examples.length < this.keep) this.examples.push(entry);
  }

  // Most rows first; ties in the order first seen (as Python's Counter.most_common).
  ordered() {
    return [...this.reasons.entries()].sort((a, b) => b[1].rows - a[1].rows);
  }
}

export async function downloadRejected(url) {
  let reply;
  try {
    reply = await fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
  } catch (exc) {
    throw new ApiError(`Downloading the rejected rows failed: ${exc.message} (network, or the bucket's CORS rules).`, {
      kind: "unreachable",
    });
  }
  if (!reply.ok) throw new ApiError(`S3 refused the rejected-rows download (HTTP ${reply.status}).`, { kind: "s3" });
  const blob = await reply.blob();
  const summary = new RejectedSummary();
  for (const line of (await blob.text()).split("\n")) {
    if (line.trim()) summary.add(JSON.parse(line));
  }
  return { blob, summary };
}

export class UploadsView {
  constructor(root, notify) {
    this.root = root;
    this.notify = notify;
    this.filter = root.querySelector("#uploads-table");
    this.tbody = root.querySelector("#uploads tbody");
    this.detail = root.querySelector("#upload-detail");
    this.retryButton = root.querySelector("#detail-retry");
    this.download = root.querySelector("#rejected-download");
    this.current = null;
    this.blobUrl = null;
    this.filter.value = sessionStorage.getItem("ingest.uploadsTable") || "";
    this.filter.addEventListener("change", () => {
      sessionStorage.setItem("ingest.uploadsTable", this.filter.value);
      this.refresh();
    });
    root.querySelector("#uploads-refresh").addEventListener("click", () => this.refresh());
    this.retryButton.addEventListener("click", () => this.retry());
  }

  async show(uploadId) {
    await this.refresh();
    if (uploadId) await this.showDetail(uploadId);
    else this.detail.hidden = true;
  }

  // Forget what the API sent (a refused key must not leave it on screen), and any reply still
  // on its way, which was asked for with that key.
  clear() {
    this.epoch = (this.epoch || 0) + 1;
    this.tbody.replaceChildren();
    this.detail.hidden = true;
    this.current = null;
  }

  async refresh() {
    const epoch = this.epoch;
    let uploads;
    try {
      uploads = (await api.uploads(this.filter.value)).uploads;
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
    if (epoch !== this.epoch) return;
    this.tbody.replaceChildren();
    for (const u of uploads) {
      const link = el("a", u.upload_id, { href: `#uploads/${encodeURIComponent(u.upload_id)}` });
      const tr = row([
        formatDate(u.created_at),
        link,
        u.table,
        u.filename || "-",
        badge(u.state),
        { text: formatNumber(u.rows_total), attrs: { class: "num" } },
        { text: formatNumber(u.rows_valid), attrs: { class: "num" } },
        { text: formatNumber(u.rows_rejected), attrs: { class: "num" } },
      ]);
      tr.dataset.uploadId = u.upload_id;
      this.tbody.append(tr);
    }
    if (!uploads.length) this.tbody.append(row([{ text: "No uploads yet.", attrs: { colspan: 8 } }]));
    labelCells(this.root.querySelector("#uploads"));
  }

  async showDetail(uploadId) {
    if (!new RegExp(UPLOAD_ID).test(uploadId)) {
      // Said here, as it was typed: the API would quote it as its address carried it (encoded).
      this.detail.hidden = true;
      this.notify(`“${uploadId}” is not an upload id: ids look like 20211126T031500Z-0123456789ab.`);
      return;
    }
    const epoch = this.epoch;
    let status;
    try {
      status = await api.upload(uploadId);
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
    if (epoch !== this.epoch) return;
    this.current = status;
    this.detail.hidden = false;
    this.root.querySelector("#detail-title").textContent = `Upload ${status.upload_id}`;
    const fields = this.root.querySelector("#detail-fields");
    fields.replaceChildren();
    const add = (name, value) => {
      fields.append(el("dt", name));
      const dd = el("dd");
      if (value instanceof Node) dd.append(value);
      else dd.textContent = value;
      fields.append(dd);
    };
    add("table", status.table);
    add("file", status.filename || "-");
    add("state", badge(status.state));
    const [rows, chunks] = countsText(status);
    add("rows", rows);
    add("chunks", chunks);
    add("created", `${formatDate(status.created_at)} UTC`);
    add("updated", `${formatDate(status.updated_at)} UTC`);
    if (status.error) add("error", el("span", status.error, { class: "error-text" }));
    for (const warning of status.warnings || []) add("warning", el("span", warning.message, { class: "warning-text" }));
    const step = nextStep(status);
    if (step) add("next", step);
    // Only where the API says a re-drive can help (it decides, 409, whether a processing one is
    // stuck); an upload whose file is at fault would fail the same way.
    this.retryButton.hidden = !status.retryable;
    await this.showRejected(status);
    this.detail.scrollIntoView({ block: "nearest" });
  }

  async showRejected(status) {
    const box = this.root.querySelector("#rejected-summary");
    if (this.blobUrl) URL.revokeObjectURL(this.blobUrl);
    this.blobUrl = null;
    this.download.hidden = true;
    box.hidden = true;
    if (!status.rejected_url) return;
    let got;
    try {
      got = await downloadRejected(status.rejected_url);
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
    const { blob, summary } = got;
    this.blobUrl = URL.createObjectURL(blob);
    this.download.href = this.blobUrl;
    this.download.download = `${status.upload_id}-rejected.jsonl`;
    this.download.hidden = !summary.rows;
    this.root.querySelector("#rejected-title").textContent = summary.rows
      ? `${formatNumber(summary.rows)} rejected rows of ${status.filename} (${status.table}), by reason`
      : `No rejected rows in ${status.filename} (${status.table}).`;
    for (const table of box.querySelectorAll("table, h4:not(#rejected-title)")) table.hidden = !summary.rows;
    const reasons = this.root.querySelector("#rejected-reasons tbody");
    reasons.replaceChildren();
    let shares = 0;
    for (const [reason, seen] of summary.ordered()) {
      shares += summary.rows ? seen.rows / summary.rows : 0;
      const share = summary.rows ? `${Math.round((100 * seen.rows) / summary.rows)}%` : "-";
      reasons.append(
        row([
          reason,
          { text: formatNumber(seen.rows), attrs: { class: "num" } },
          { text: share, attrs: { class: "num" } },
          seen.first.join(", "),
        ]),
      );
    }
    // Each share is of the rejected rows; a row with two reasons counts under both.
    this.root.querySelector("#rejected-share-note").hidden = !(shares > 1.0001);
    labelCells(this.root.querySelector("#rejected-reasons"));
    const examples = this.root.querySelector("#rejected-examples tbody");
    examples.replaceChildren();
    for (const entry of summary.examples) {
      examples.append(
        row([
          { text: String(entry.row), attrs: { class: "num" } },
          { text: String(entry.raw ?? ""), attrs: { class: "raw" } },
          (entry.errors || []).join("; "),
        ]),
      );
    }
    labelCells(this.root.querySelector("#rejected-examples"));
    box.hidden = false;
  }

  async retry() {
    const status = this.current;
    if (!status) return;
    this.retryButton.disabled = true;
    try {
      const done = await api.retry(status.upload_id);
      this.notify(`Re-driving ${status.upload_id} from its ${done.stage} stage.`, "info");
    } catch (exc) {
      this.notify(`The upload ${status.upload_id} was not re-driven: ${exc.message}`);
    } finally {
      this.retryButton.disabled = false;
    }
    await this.showDetail(status.upload_id);
  }
}

// The rows and chunks lines of one upload, in words where nothing was counted (as `ingest status`).
function countsText(status) {
  const failed = status.state === "failed";
  const rows =
    status.rows_total === null || status.rows_total === undefined
      ? failed
        ? "none counted: it failed before its rows were read"
        : "not counted yet"
      : `${formatNumber(status.rows_total)} in all, ${formatNumber(status.rows_valid)} valid, ${formatNumber(status.rows_rejected)} rejected`;
  const chunks =
    status.chunks_total === null || status.chunks_total === undefined
      ? failed
        ? "none: it failed before it was split"
        : "not split yet"
      : `${formatNumber(status.chunks_done ?? 0)} of ${formatNumber(status.chunks_total)} done`;
  return [rows, chunks];
}

// What can help an upload that failed or loaded nothing useful (as `ingest status` says it).
function nextStep(status) {
  if (status.state === "failed") {
    return status.retryable
      ? "Once the cause is fixed, re-drive it (below)."
      : "A re-drive cannot help: upload the file again (fixed, or read with another table or options, if the file was at fault).";
  }
  const option = (status.warnings || []).map((w) => w.option).find(Boolean);
  if (!option) return "";
  return `Upload the file again with ${optionPhrase(option)}.`;
}
