// The Uploads view: history newest first (filter by table), one upload's details, its rejected
// rows summarised by reason exactly as `ingest rejected` does, their download, and a re-drive.

import { api, ApiError, badge, el, formatNumber, row } from "./api.js";

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

  async refresh() {
    let uploads;
    try {
      uploads = (await api.uploads(this.filter.value)).uploads;
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
    this.tbody.replaceChildren();
    for (const u of uploads) {
      const link = el("a", u.upload_id, { href: `#uploads/${encodeURIComponent(u.upload_id)}` });
      const tr = row([
        String(u.created_at || "-").replace("T", " ").replace(/Z$/, ""),
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
  }

  async showDetail(uploadId) {
    let status;
    try {
      status = await api.upload(uploadId);
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
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
    add("rows", `${formatNumber(status.rows_total)} in all, ${formatNumber(status.rows_valid)} valid, ${formatNumber(status.rows_rejected)} rejected`);
    add("chunks", `${formatNumber(status.chunks_done)} of ${formatNumber(status.chunks_total)} done`);
    add("created", status.created_at || "-");
    add("updated", status.updated_at || "-");
    if (status.error) add("error", el("span", status.error, { class: "error-text" }));
    // The API decides (409) whether a processing upload is stuck; failed ones always qualify.
    this.retryButton.hidden = !(status.state === "failed" || status.state === "processing");
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
    for (const [reason, seen] of summary.ordered()) {
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
