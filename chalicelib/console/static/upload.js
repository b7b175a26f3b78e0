// The Upload view: files dropped or picked, each with a table guessed from its name and the
// options to read it with, sent in load order, then followed through the pipeline until loaded
// or failed, with the warnings of an upload that loaded little or nothing. A file still in the
// page can be sent again (with the option a warning names). What it knows about each file (not
// the bytes) is kept in sessionStorage, so a reload keeps following what was sent.

import { api, badge, el, formatBytes } from "./api.js";
import { FILE_OPTIONS, TABLES } from "./contract.js";
import {
  changedOptions,
  defaultOptions,
  guessTable,
  OPTION_HINTS,
  OPTION_NAMES,
  optionPhrase,
  optionText,
} from "./files.js";
import { describeFailure, pipelineText, resendable, rowsText, transferText } from "./queued.js";
import { Transfer } from "./transfer.js";

export { guessTable };

const QUEUE_ITEM = "ingest.queue";
const POLL_MS = 1000;
const FINISHED = new Set(["loaded", "failed", "cancelled", "interrupted"]);
const OPTION_LABELS = { header: "header", encoding: "encoding", delimiter: "delimiter" };

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
        options: defaultOptions(),
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
      item.options = { ...defaultOptions(), ...item.options };
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
    await this.send(this.items.filter((i) => i.phase === "queued"));
  }

  async send(queued) {
    if (this.sending) {
      this.again = true; // files added meanwhile go when the current ones are sent
      this.notify("Sending; the files added since go next.", "info");
      return;
    }
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

  // A file still in the page, sent as a new upload: as it is, or with ``option`` (the option a
  // warning named) changed first.
  async sendAgain(item, option = null) {
    if (!item.file) return;
    Object.assign(item, {
      options: { ...item.options, ...(option || {}) },
      phase: "queued",
      sent: 0,
      uploadId: null,
      parts: null,
      chunksDone: null,
      chunksTotal: null,
      rowsTotal: null,
      rowsValid: null,
      rowsRejected: null,
      warnings: [],
      retryable: null,
      error: null,
    });
    this.save();
    this.render(item);
    await this.send([item]);
  }

  async sendOne(item, multipart) {
    item.phase = "sending";
    item.failedIn = null;
    item.sentAs = { table: item.table, ...item.options };
    item.sent = 0;
    item.startedAt = performance.now();
    const transfer = new Transfer(item.file, item.table, {
      multipart,
      options: changedOptions(item.options),
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
        // Sent again as it is, only a failure on the way (network, S3, a server error) can end
        // otherwise; what the API or the page refused needs another table or option first.
        const onTheWay = ["unreachable", "network", "s3"].includes(exc.kind) || exc.status >= 500;
        item.failedIn = onTheWay ? "transfer" : "request";
        item.error = describeFailure(item, exc);
        this.notify(item.error);
      }
    } finally {
      item.transfer = null;
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
          warnings: status.warnings || [],
          retryable: status.retryable,
        });
        if (status.state === "loaded") {
          item.phase = "loaded";
          for (const warning of item.warnings) this.notify(`${item.name}: ${warning.message}`, "warning");
        }
        if (status.state === "failed") {
          item.phase = "failed";
          item.failedIn = "pipeline";
          // A re-drive is offered only where the API says one can help.
          const remedy = status.retryable
            ? "Once the cause is fixed, re-drive it from Uploads."
            : "A re-drive would fail the same way: fix the file, or the table or options it is read with, and send it again.";
          item.error = `${item.name} failed in the pipeline: ${status.error || "no reason given"}. ${remedy}`;
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
    // A file still in the page can be changed and sent again once its upload has ended.
    const editable = item.phase === "queued" || (Boolean(item.file) && FINISHED.has(item.phase));
    view.select.value = item.table || "";
    view.select.disabled = !editable;
    for (const name of OPTION_NAMES) {
      view.options[name].value = item.options[name];
      view.options[name].disabled = !editable;
    }
    view.progress.max = Math.max(1, item.size);
    view.progress.value = Math.min(item.size, item.sent || 0);
    view.transfer.textContent = transferText(item);
    view.state.replaceChildren(badge(item.phase));
    view.pipeline.textContent = pipelineText(item);
    view.rows.textContent = rowsText(item);
    view.message.textContent = item.error || "";
    view.message.hidden = !item.error;
    view.warnings.replaceChildren(...(item.warnings || []).map((w) => el("li", w.message)));
    view.warnings.hidden = !item.warnings?.length;
    view.link.hidden = !item.uploadId;
    if (item.uploadId) view.link.setAttribute("href", `#uploads/${encodeURIComponent(item.uploadId)}`);
    const cancellable = item.phase === "queued" || item.phase === "sending" || FINISHED.has(item.phase);
    view.button.hidden = !cancellable;
    view.button.textContent = item.phase === "sending" ? "Cancel" : "Remove";
    view.button.setAttribute("aria-label", `${view.button.textContent} ${item.name}`);
    const option = (item.warnings || []).map((w) => w.option).find(Boolean) || null;
    const again = Boolean(item.file) && resendable(item, option);
    view.again.hidden = !again;
    view.again.textContent = option && item.phase === "loaded" ? `Send again with ${optionPhrase(option)}` : "Send again";
    view.again.setAttribute("aria-label", `${view.again.textContent}: ${item.name}`);
    view.again.onclick = () => this.sendAgain(item, item.phase === "loaded" ? option : null);
    view.tr.dataset.phase = item.phase;
  }

  buildRow(item) {
    const tr = el("tr", null, { "data-name": item.name });
    const name = el("td", null, { class: "name" });
    name.append(el("span", item.name));
    const message = el("p", "", { class: "error-text" });
    const warnings = el("ul", null, { class: "warning-text" });
    name.append(message, warnings);
    const select = el("select", null, { "aria-label": `Table for ${item.name}` });
    select.append(el("option", "choose…", { value: "" }));
    for (const t of TABLES) select.append(el("option", t, { value: t }));
    select.addEventListener("change", () => {
      item.table = select.value;
      this.save();
      this.render(item);
    });
    const tableCell = el("td");
    tableCell.append(select);
    const options = {};
    const optionsCell = el("td", null, { class: "read-as" });
    for (const option of OPTION_NAMES) {
      const chooser = el("select", null, {
        "aria-label": `${OPTION_LABELS[option]} of ${item.name}`,
        "data-option": option,
        title: OPTION_HINTS[option],
      });
      for (const value of FILE_OPTIONS[option]) chooser.append(el("option", optionText(option, value), { value }));
      chooser.addEventListener("change", () => {
        item.options = { ...item.options, [option]: chooser.value };
        this.save();
        this.render(item);
      });
      const label = el("label", null, { class: "option" });
      label.append(el("span", OPTION_LABELS[option], { class: "note" }), chooser);
      optionsCell.append(label);
      options[option] = chooser;
    }
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
    const again = el("button", "Send again", { type: "button", class: "again" });
    const actions = el("td", null, { class: "actions" });
    actions.append(again, button);
    const size = el("td", formatBytes(item.size), { class: "num" });
    tr.append(name, tableCell, size, optionsCell, transferCell, pipelineCell, rowsCell, actions);
    const labels = ["File", "Table", "Size", "Read as", "Transfer", "Pipeline", "Rows"];
    labels.forEach((label, i) => {
      tr.cells[i].dataset.label = label;
    });
    return { tr, select, options, progress, transfer, state, pipeline, rows, link, button, again, message, warnings };
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
