// The Backups view: the catalog newest first, a new backup (Parquet or AVRO), and a restore that
// first asks, naming the table and how many rows the backup holds.

import { api, el, formatDate, formatNumber, labelCells, row } from "./api.js";

export class BackupsView {
  constructor(root, notify) {
    this.root = root;
    this.notify = notify;
    this.dialog = root.querySelector("#restore-dialog");
    this.pending = null;
    root.querySelector("#backup-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    root.querySelector("#restore-cancel").addEventListener("click", () => this.dialog.close("cancel"));
    root.querySelector("#restore-confirm").addEventListener("click", () => this.dialog.close("restore"));
    this.dialog.addEventListener("close", () => {
      const pending = this.pending;
      this.pending = null;
      if (pending && this.dialog.returnValue === "restore") this.restore(pending);
      pending?.button.focus();
    });
  }

  // Forget what the API sent (a refused key must not leave it on screen), and any reply still
  // on its way, which was asked for with that key.
  clear() {
    this.epoch = (this.epoch || 0) + 1;
    this.root.querySelector("#backups tbody").replaceChildren();
    this.root.querySelector("#backup-result").textContent = "";
  }

  async show() {
    const epoch = this.epoch;
    let backups;
    try {
      backups = (await api.backups()).backups;
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
    if (epoch !== this.epoch) return;
    const tbody = this.root.querySelector("#backups tbody");
    tbody.replaceChildren();
    for (const backup of backups) {
      const tables = Object.entries(backup.tables || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      tables.forEach(([table, info], i) => {
        const actions = el("span");
        if (backup.format !== "avro") {
          const button = el("button", "Restore…", { type: "button", "aria-label": `Restore ${table} from backup ${backup.backup_id}` });
          button.addEventListener("click", () => this.ask(backup, table, info, button));
          actions.append(button);
        } else {
          actions.textContent = "export only";
        }
        const tr = row([
          i === 0 ? backup.backup_id : "",
          i === 0 ? formatDate(backup.created_at) : "",
          i === 0 ? backup.format || "parquet" : "",
          table,
          { text: formatNumber(info.rows), attrs: { class: "num" } },
          actions,
        ]);
        tr.dataset.backupId = backup.backup_id;
        tr.dataset.table = table;
        tbody.append(tr);
      });
    }
    if (!backups.length) tbody.append(row([{ text: "No backups yet.", attrs: { colspan: 6 } }]));
    labelCells(this.root.querySelector("#backups"));
  }

  async create() {
    const table = this.root.querySelector("#backup-table").value;
    const format = this.root.querySelector("#backup-format").value;
    const result = this.root.querySelector("#backup-result");
    const submit = this.root.querySelector("#backup-form button[type=submit]");
    submit.disabled = true;
    result.textContent = `Backing up ${table === "all" ? "all tables" : table}…`;
    try {
      const made = await api.createBackup(table, format);
      const counts = Object.entries(made.tables || {})
        .map(([name, info]) => `${name} ${formatNumber(info.rows)} rows`)
        .join(", ");
      result.textContent = `Backup ${made.backup_id} (${made.format}) written: ${counts}.`;
    } catch (exc) {
      result.textContent = "";
      this.notify(`The backup was not made: ${exc.message}`);
    } finally {
      submit.disabled = false;
    }
    await this.show();
  }

  ask(backup, table, info, button) {
    this.pending = { backup, table, info, button };
    this.root.querySelector("#restore-question").textContent =
      `Replace every row of the table ${table} with the ${formatNumber(info.rows)} rows of backup ` +
      `${backup.backup_id} (${backup.created_at ? `${formatDate(backup.created_at)} UTC` : "date unknown"})? ` +
      "The rows loaded since then are lost.";
    this.dialog.returnValue = "";
    this.dialog.showModal();
    this.root.querySelector("#restore-cancel").focus();
  }

  async restore({ backup, table }) {
    const result = this.root.querySelector("#backup-result");
    result.textContent = `Restoring ${table} from ${backup.backup_id}…`;
    try {
      const done = await api.restore(backup.backup_id, table);
      result.textContent = `Restored ${table}: ${formatNumber(done.rows_restored)} rows from backup ${done.backup_id}.`;
    } catch (exc) {
      result.textContent = "";
      this.notify(`${table} was not restored: ${exc.message}`);
    }
  }
}
