// The Reports view: hires by quarter (sortable, filterable table and a stacked bar per
// department) and the departments above the mean (bars and the mean line), numbers as the API
// sends them. The chart follows the table: same filter, departments in the table's order.

import { api, formatNumber, labelCells, row } from "./api.js";
import { barsWithMean, QUARTERS, stackedQuarters } from "./charts.js";

const YEAR_ITEM = "ingest.reportYear";
const NUMERIC = new Set(["q1", "q2", "q3", "q4", "total"]);

export class ReportsView {
  constructor(root, notify) {
    this.root = root;
    this.notify = notify;
    this.rows = [];
    this.sort = { key: null, dir: 1 }; // null: the API's order
    this.year = root.querySelector("#report-year");
    this.year.value = sessionStorage.getItem(YEAR_ITEM) || this.year.value;
    this.filter = root.querySelector("#hires-filter");
    this.filter.value = sessionStorage.getItem("ingest.reportFilter") || "";
    root.querySelector("#report-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(YEAR_ITEM, this.year.value);
      this.show();
    });
    this.filter.addEventListener("input", () => {
      sessionStorage.setItem("ingest.reportFilter", this.filter.value);
      this.draw();
    });
    for (const th of root.querySelectorAll("#hires th[data-key]")) {
      th.querySelector("button").addEventListener("click", () => this.sortBy(th.dataset.key));
    }
    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => this.redraw(), 150);
    });
  }

  // Forget what the API sent (a refused key must not leave it on screen), and any reply still
  // on its way, which was asked for with that key.
  clear() {
    this.epoch = (this.epoch || 0) + 1;
    this.rows = [];
    this.above = null;
    for (const tbody of this.root.querySelectorAll("tbody")) tbody.replaceChildren();
    for (const chart of this.root.querySelectorAll(".chart")) chart.replaceChildren();
    this.root.querySelector("#hires-count").textContent = "";
  }

  redraw() {
    if (this.root.hidden || !this.above) return;
    this.draw();
    this.drawAbove(this.above);
  }

  async show() {
    const year = this.year.value;
    if (!/^[0-9]{4}$/.test(year)) {
      this.notify("Enter a year such as 2021.");
      return;
    }
    const epoch = this.epoch;
    let hires;
    let above;
    try {
      [hires, above] = await Promise.all([api.hiresByQuarter(year), api.departmentsAboveMean(year)]);
    } catch (exc) {
      this.notify(exc.message);
      return;
    }
    if (epoch !== this.epoch) return;
    this.root.querySelector("#hires-title").textContent = `Hires by quarter, ${hires.year}`;
    this.rows = hires.rows.map((r, index) => ({ ...r, total: QUARTERS.reduce((s, q) => s + r[q], 0), index }));
    this.above = above;
    this.draw();
    this.drawAbove(above);
  }

  sortBy(key) {
    this.sort = this.sort.key === key ? { key, dir: -this.sort.dir } : { key, dir: NUMERIC.has(key) ? -1 : 1 };
    this.draw();
  }

  visible() {
    const needle = this.filter.value.trim().toLowerCase();
    let rows = this.rows.filter(
      (r) => !needle || r.department.toLowerCase().includes(needle) || r.job.toLowerCase().includes(needle),
    );
    const { key, dir } = this.sort;
    if (key) {
      // Ties keep the API's order (department, then job), in the table and in the chart.
      rows = [...rows].sort((a, b) => {
        const order = NUMERIC.has(key) ? a[key] - b[key] : a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0;
        return order * dir || a.index - b.index;
      });
    }
    return rows;
  }

  draw() {
    const rows = this.visible();
    for (const th of this.root.querySelectorAll("#hires th[data-key]")) {
      const state = th.dataset.key === this.sort.key ? (this.sort.dir > 0 ? "ascending" : "descending") : "none";
      th.setAttribute("aria-sort", state);
    }
    const tbody = this.root.querySelector("#hires tbody");
    tbody.replaceChildren();
    for (const r of rows) {
      const cells = [r.department, r.job, ...[...QUARTERS, "total"].map((q) => ({ text: formatNumber(r[q]), attrs: { class: "num" } }))];
      tbody.append(row(cells));
    }
    if (!rows.length) tbody.append(row([{ text: this.rows.length ? "No row matches the filter." : "No hires this year.", attrs: { colspan: 7 } }]));
    this.root.querySelector("#hires-count").textContent = `${rows.length} of ${this.rows.length} rows`;
    // One bar per department, in the order the department first appears in the table.
    const departments = new Map();
    for (const r of rows) {
      const d = departments.get(r.department) || { department: r.department, q1: 0, q2: 0, q3: 0, q4: 0, total: 0 };
      for (const q of QUARTERS) d[q] += r[q];
      d.total += r.total;
      departments.set(r.department, d);
    }
    stackedQuarters(this.root.querySelector("#hires-chart"), [...departments.values()]);
  }

  drawAbove(report) {
    const mean = Number(report.mean || 0);
    this.root.querySelector("#above-title").textContent =
      `Departments that hired more than the mean (${mean.toFixed(1)}) in ${report.year}`;
    const tbody = this.root.querySelector("#above tbody");
    tbody.replaceChildren();
    for (const r of report.rows) {
      const vs = mean ? `+${Math.round(((r.hired - mean) / mean) * 100)}%` : "-";
      tbody.append(
        row([
          { text: String(r.id), attrs: { class: "num" } },
          r.department,
          { text: formatNumber(r.hired), attrs: { class: "num" } },
          { text: vs, attrs: { class: "num" } },
        ]),
      );
    }
    if (!report.rows.length) tbody.append(row([{ text: "(none)", attrs: { colspan: 4 } }]));
    labelCells(this.root.querySelector("#above"));
    barsWithMean(this.root.querySelector("#above-chart"), report.rows, mean);
  }
}
