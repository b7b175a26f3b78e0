// Bar charts drawn as SVG elements; every label is set as text content, never as markup.

const SVG = "http://www.w3.org/2000/svg";
export const QUARTERS = ["q1", "q2", "q3", "q4"];
const ROW = 26;
const BAR = 18;
const TOP = 28;
const RIGHT = 56;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

// Drawn at the width the chart has on screen, so text keeps its size in a narrow window.
function layout(chart) {
  const width = Math.max(300, Math.min(960, (chart.clientWidth || 760) - 16));
  const labelWidth = Math.min(210, Math.round(width * 0.36));
  return { width, labelWidth, chars: Math.max(10, Math.floor((labelWidth - 12) / 7.5)) };
}

function frame(rows, width) {
  const height = TOP + Math.max(1, rows) * ROW + 24;
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", preserveAspectRatio: "xMinYMin meet" });
}

function clip(text, max = 30) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function label(box, y, text) {
  const node = svg("text", { x: box.labelWidth - 8, y: y + BAR - 4, "text-anchor": "end", class: "label" }, clip(text, box.chars));
  node.append(svg("title", {}, text));
  return node;
}

function scale(max, box) {
  const span = box.width - box.labelWidth - RIGHT;
  return (v) => (max > 0 ? (v / max) * span : 0);
}

function empty(chart, text) {
  const root = frame(1, layout(chart).width);
  root.append(svg("text", { x: 8, y: TOP + 12, class: "label" }, text));
  chart.replaceChildren(root);
}

// One horizontal bar per department, stacked by quarter, in the order given.
export function stackedQuarters(chart, departments) {
  if (!departments.length) {
    empty(chart, "No hires this year.");
    return;
  }
  const box = layout(chart);
  const labelWidth = box.labelWidth;
  const root = frame(departments.length, box.width);
  const x = scale(Math.max(...departments.map((d) => d.total)), box);
  const legend = svg("g", { class: "legend" });
  QUARTERS.forEach((q, i) => {
    legend.append(svg("rect", { x: labelWidth + i * 56, y: 4, width: 12, height: 12, class: `fill-${q}` }));
    legend.append(svg("text", { x: labelWidth + i * 56 + 16, y: 15, class: "label" }, q.toUpperCase()));
  });
  root.append(legend);
  departments.forEach((d, i) => {
    const y = TOP + i * ROW;
    const bar = svg("g", { class: "bar", "data-department": d.department, "data-total": d.total });
    bar.append(label(box, y, d.department));
    let left = labelWidth;
    for (const q of QUARTERS) {
      const w = x(d[q]);
      const part = svg("rect", { x: left, y, width: Math.max(0, w), height: BAR, class: `fill-${q}`, "data-quarter": q, "data-value": d[q] });
      part.append(svg("title", {}, `${d.department}, ${q.toUpperCase()}: ${d[q]}`));
      bar.append(part);
      left += w;
    }
    bar.append(svg("text", { x: left + 6, y: y + BAR - 4, class: "value" }, d.total));
    root.append(bar);
  });
  chart.replaceChildren(root);
}

// One bar per department with the mean drawn as a vertical line.
export function barsWithMean(chart, rows, mean) {
  if (!rows.length) {
    empty(chart, "No department hired more than the mean this year.");
    return;
  }
  const box = layout(chart);
  const labelWidth = box.labelWidth;
  const root = frame(rows.length, box.width);
  const x = scale(Math.max(mean, ...rows.map((r) => r.hired)), box);
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const bar = svg("g", { class: "bar", "data-department": r.department, "data-hired": r.hired });
    bar.append(label(box, y, r.department));
    const rect = svg("rect", { x: labelWidth, y, width: x(r.hired), height: BAR, class: "fill-q1" });
    rect.append(svg("title", {}, `${r.department}: ${r.hired}`));
    bar.append(rect, svg("text", { x: labelWidth + x(r.hired) + 6, y: y + BAR - 4, class: "value" }, r.hired));
    root.append(bar);
  });
  const at = labelWidth + x(mean);
  const bottom = TOP + rows.length * ROW;
  root.append(svg("line", { x1: at, x2: at, y1: TOP - 6, y2: bottom, class: "mean", "data-mean": mean }));
  root.append(svg("text", { x: at, y: TOP - 10, "text-anchor": "middle", class: "label" }, `mean ${mean.toFixed(1)}`));
  chart.replaceChildren(root);
}
