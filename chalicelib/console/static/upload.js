// The Upload view: files dropped or picked, each with a table guessed from its name, sent in
// load order, then followed through the pipeline until loaded or failed. What it knows about each
// file (not the bytes) is kept in sessionStorage, so a reload keeps following what was sent.

import { api, badge, el, formatBytes, formatNumber, formatSeconds } from "./api.js";
import { NAME_WORDS, PATH_SEPARATORS, TABLES } from "./contract.js";
import { Transfer } from "./transfer.js";

const QUEUE_ITEM = "ingest.queue";
const POLL_MS = 1000;
const FINISHED = new Set(["loaded", "failed", "cancelled", "interrupted"]);

// The table a file is for, from its name, by the rule of the API and the ingest client
// (chalicelib/tables.py guess_table; the pattern comes from the generated contract): the one
// table whose words appear side by side among the words of the name's last path segment.
// "" when no table, or several, fit.
export function guessTable(name) {
  const base = String(name).split(new RegExp(PATH_SEPARATORS)).pop();
  const words = (base.match(new RegExp(NAME_WORDS, "g")) || []).map((w) => w.toLowerCase());
  const named = TABLES.filter((table) => holdsRun(words, table.split("_")));
  return named.length === 1 ? named[0] : "";
}

function holdsRun(words, run) {
  for (let i = 0; i + run.length <= words.length; i += 1) {
    if (run.every((word, j) => words[i + j] === word)) return true;
  }
  return false;
}

export class UploadView {
  constructor(root, notify) {
    this.root = root;
    this.notify = notify;
    this.tbody = root.querySelector("#queue tbody");
    this.items = [];
    this.rows = new Map();
    this.sending = false;
    this.counter = 0;
    const input = root.querySelector("#file-input");
    input.addEventListener("change", () => {
      this.add([...input.files]);
      input.value = "";
    });
    // Files may be dropped anywhere on the view; a drop on the zone bubbles up to it once.
    const zone = root.querySelector("#drop-zone");
    root.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    root.addEventListener("dragleave", () => zone.classList.remove("over"));
    root.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      this.add([...(event.dataTransfer?.files || [])]);
    });
    root.querySelector("#send-all").addEventListener("click", () => this.sendAll());
    root.querySelector("#clear-done").addEventListener("click", () => this.clearFinished());
    window.addEventListener("beforeunload", (event) => {
      if (this.items.some((i) => i.phase === "sending")) event.preventDefault();
    });
    this.restore();
  }

  add(files) {
    for (const file of files) {
      this.counter += 1;
      const item = {
        id: `${Date.now()}-${this.counter}`,
        name: file.name,
        size: file.size,
        table: guessTable(file.name),
        phase: "queued",
        sent: 0,
        file,
      };
      this.items.push(item);
      this.render(item);
    }
    this.save();
  }

  save() {
    const kept = this.items.map(({ file, transfer, ...rest }) => rest);
    sessionStorage.setItem(QUEUE_ITEM, JSON.stringify(kept));
  }

  restore() {
    let saved = [];
    try {
      saved = JSON.parse(sessionStorage.getItem(QUEUE_ITEM) || "[]");
    } catch {
      saved = [];
    }
    for (const item of saved) {
      if (item.phase === "queued") {
        item.phase = "interrupted";
        item.error = "The page was reloaded before this file was sent: choose it again.";
      } else if (item.phase === "sending") {
        item.phase = "interrupted";
        item.error = "The page was reloaded while sending: the upload was cancelled; drop the file again.";
        if (item.uploadId) api.cancelUpload(item.uploadId).catch(() => {});
      }
      this.items.push(item);
      this.render(item);
      if (item.phase === "processing") this.follow(item);
    }
    this.save();
  }

  clearFinished() {
    this.items = this.items.filter((item) => {
      if (!FINISHED.has(item.phase)) return true;
      this.rows.get(item.id)?.tr.remove();
      this.rows.delete(item.id);
      return false;
    });
    this.save();
  }

  async sendAll() {
    if (this.sending) {
      this.again = true; // files added meanwhile go when the current ones are sent
      this.notify("Sending; the files added since go next.", "info");
      return;
    }
    const queued = this.items.filter((i) => i.phase === "queued");
    const untabled = queued.filter((i) => !TABLES.includes(i.table));
    if (untabled.length) {
      this.notify(`Choose a table for ${untabled.map((i) => i.name).join(", ")}: it cannot be guessed from the name.`);
      this.rows.get(untabled[0].id)?.select.focus();
      return;
    }
    if (!queued.length) {
      this.notify("Drop or choose files first.", "info");
      return;
    }
    const order = (i) => TABLES.indexOf(i.table);
    queued.sort((a, b) => order(a) - order(b)); // stable: same table keeps the order dropped
    const multipart = this.root.querySelector("#force-multipart").checked ? true : null;
    this.sending = true;
    try {
      for (const item of queued) {
        if (item.phase !== "queued") continue; // removed or cancelled meanwhile
        await this.sendOne(item, multipart);
      }
    } finally {
      this.sending = false;
    }
    if (this.again) {
      this.again = false;
      await this.sendAll();
    }
  }

  async sendOne(item, multipart) {
    item.phase = "sending";
    item.sent = 0;
    item.startedAt = performance.now();
    const transfer = new Transfer(item.file, item.table, {
      multipart,
      onStarted: (grant) => {
        item.uploadId = grant.upload_id;
        item.parts = grant.part_count || null;
        this.save();
        this.render(item);
      },
      onProgress: (bytes) => {
        item.sent = Math.max(0, item.sent + bytes);
        this.schedule(item);
      },
    });
    item.transfer = transfer;
    this.render(item);
    try {
      await transfer.run();
      item.sent = item.size;
      item.phase = "processing";
      this.follow(item);
    } catch (exc) {
      if (transfer.cancelled || exc.kind === "cancelled") {
        item.phase = "cancelled";
        item.error = "Cancelled; the upload was withdrawn on the server.";
      } else {
        item.phase = "failed";
        item.error = describeFailure(item, exc);
        this.notify(item.error);
      }
    } finally {
      item.transfer = null;
      item.file = item.phase === "processing" || item.phase === "loaded" ? null : item.file;
      this.save();
      this.render(item);
    }
  }

  async follow(item) {
    let failures = 0;
    while (item.phase === "processing") {
      try {
        const status = await api.upload(item.uploadId);
        failures = 0;
        Object.assign(item, {
          chunksDone: status.chunks_done,
          chunksTotal: status.chunks_total,
          rowsTotal: status.rows_total,
          rowsValid: status.rows_valid,
          rowsRejected: status.rows_rejected,
        });
        if (status.state === "loaded") item.phase = "loaded";
        if (status.state === "failed") {
          item.phase = "failed";
          item.error = `${item.name} failed in the pipeline: ${status.error || "no reason given"}. Re-drive it from Uploads.`;
          this.notify(item.error);
        }
        this.save();
        this.render(item);
      } catch (exc) {
        failures += 1;
        if (exc.kind === "key" || failures === 3) this.notify(exc.message);
        if (exc.kind === "key") return;
      }
      if (item.phase === "processing") await sleep(POLL_MS * Math.min(8, 2 ** failures));
    }
  }

  schedule(item) {
    if (item.frame) return;
    item.frame = requestAnimationFrame(() => {
      item.frame = 0;
      this.render(item);
    });
  }

  cancel(item) {
    if (item.phase === "queued" || FINISHED.has(item.phase)) {
      this.items = this.items.filter((i) => i !== item);
      this.rows.get(item.id)?.tr.remove();
      this.rows.delete(item.id);
      this.save();
    } else if (item.phase === "sending" && item.transfer) {
      item.transfer.cancel();
    }
  }

  render(item) {
    let view = this.rows.get(item.id);
    if (!view) {
      view = this.buildRow(item);
      this.rows.set(item.id, view);
      this.tbody.append(view.tr);
    }
    view.select.value = item.table || "";
    view.select.disabled = item.phase !== "queued";
    view.progress.max = Math.max(1, item.size);
    view.progress.value = Math.min(item.size, item.sent || 0);
    view.transfer.textContent = transferText(item);
    view.state.replaceChildren(badge(item.phase));
    view.pipeline.textContent = pipelineText(item);
    view.rows.textContent = rowsText(item);
    view.message.textContent = item.error || "";
    view.message.hidden = !item.error;
    view.link.hidden = !item.uploadId;
    if (item.uploadId) view.link.setAttribute("href", `#uploads/${encodeURIComponent(item.uploadId)}`);
    const cancellable = item.phase === "queued" || item.phase === "sending" || FINISHED.has(item.phase);
    view.button.hidden = !cancellable;
    view.button.textContent = item.phase === "sending" ? "Cancel" : "Remove";
    view.button.setAttribute("aria-label", `${view.button.textContent} ${item.name}`);
    view.tr.dataset.phase = item.phase;
  }

  buildRow(item) {
    const tr = el("tr", null, { "data-name": item.name });
    const name = el("td", null, { class: "name" });
    name.append(el("span", item.name));
    const message = el("p", "", { class: "error-text" });
    name.append(message);
    const select = el("select", null, { "aria-label": `Table for ${item.name}` });
    select.append(el("option", "choose…", { value: "" }));
    for (const t of TABLES) select.append(el("option", t, { value: t }));
    select.addEventListener("change", () => {
      item.table = select.value;
      this.save();
    });
    const tableCell = el("td");
    tableCell.append(select);
    const progress = el("progress", null, { "aria-label": `Bytes of ${item.name} sent` });
    const transfer = el("span", "", { class: "note" });
    const transferCell = el("td", null, { class: "transfer" });
    transferCell.append(progress, transfer);
    const state = el("span");
    const pipeline = el("span", "", { class: "note" });
    const pipelineCell = el("td");
    pipelineCell.append(state, " ", pipeline);
    const rows = el("span");
    const link = el("a", "details", { class: "details-link" });
    const rowsCell = el("td");
    rowsCell.append(rows, " ", link);
    const button = el("button", "Remove", { type: "button" });
    button.addEventListener("click", () => this.cancel(item));
    const actions = el("td");
    actions.append(button);
    tr.append(name, tableCell, el("td", formatBytes(item.size), { class: "num" }), transferCell, pipelineCell, rowsCell, actions);
    return { tr, select, progress, transfer, state, pipeline, rows, link, button, message };
  }
}

function describeFailure(item, exc) {
  if (exc.kind === "key" || exc.kind === "unreachable") return exc.message;
  if (exc.status === 400 && /^size must be/.test(exc.message)) {
    return `${item.name} is too large to upload (${formatBytes(item.size)}): ${exc.message}.`;
  }
  return `${item.name} was not uploaded: ${exc.message}`;
}

function transferText(item) {
  if (item.phase === "queued") return "waiting to be sent";
  const parts = item.parts ? ` in ${item.parts} parts` : "";
  if (item.phase !== "sending") return item.sent ? `${formatBytes(item.size)} sent${parts}` : "";
  const elapsed = (performance.now() - item.startedAt) / 1000;
  const rate = elapsed > 0 ? item.sent / elapsed : 0;
  const left = rate > 0 ? (item.size - item.sent) / rate : Number.NaN;
  return `${formatBytes(item.sent)} of ${formatBytes(item.size)} · ${formatBytes(rate)}/s · ${formatSeconds(left)} left${parts}`;
}

function pipelineText(item) {
  if (item.chunksTotal === null || item.chunksTotal === undefined) {
    return item.phase === "processing" ? "splitting" : "";
  }
  return `chunks ${formatNumber(item.chunksDone ?? 0)} of ${formatNumber(item.chunksTotal)}`;
}

function rowsText(item) {
  if (item.rowsTotal === null || item.rowsTotal === undefined) return "";
  return `${formatNumber(item.rowsTotal)} rows: ${formatNumber(item.rowsValid)} valid, ${formatNumber(item.rowsRejected)} rejected`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
