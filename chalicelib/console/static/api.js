// Calls to the API: the key from sessionStorage in the x-api-key header, errors turned into one
// sentence a person can act on. The API lives beside the page (same origin, same stage).

import { ROUTES } from "./contract.js";

const KEY_ITEM = "ingest.apiKey";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", kind = "api" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.kind = kind; // "key", "unreachable", "api", "s3", "cancelled"
  }
}

export function apiRoot() {
  return new URL("api/v1/", document.baseURI);
}

export function getKey() {
  return sessionStorage.getItem(KEY_ITEM) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

function unreachable(detail) {
  return new ApiError(
    `The API at ${apiRoot().href} cannot be reached (${detail}). ` +
      "Check that the stack or stage is running and this machine is online, then try again.",
    { kind: "unreachable" },
  );
}

async function errorFrom(reply) {
  let code = "";
  let message = "";
  try {
    const body = await reply.json();
    code = String(body?.error?.code ?? body?.Code ?? "");
    message = String(body?.error?.message ?? body?.message ?? body?.Message ?? "");
  } catch {
    message = reply.statusText;
  }
  if (reply.status === 401 || reply.status === 403) {
    return new ApiError(
      `The API refused the key (HTTP ${reply.status}${message ? `: ${message}` : ""}). ` +
        "Enter the right key with “Change key”.",
      { status: reply.status, code, kind: "key" },
    );
  }
  return new ApiError(message || `HTTP ${reply.status}`, { status: reply.status, code });
}

// fetch() the API; resolves to the parsed JSON body, rejects with an ApiError.
export async function call(method, path, body) {
  const key = getKey();
  if (!key) throw new ApiError("Enter the API key first.", { kind: "key" });
  const headers = { "x-api-key": key };
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let reply;
  try {
    reply = await fetch(new URL(path, apiRoot()), init);
  } catch (exc) {
    throw unreachable(exc?.message || "network error");
  }
  if (!reply.ok) throw await errorFrom(reply);
  if (reply.status === 204) return null;
  try {
    return await reply.json();
  } catch {
    throw new ApiError(`The API sent a reply that is not JSON (HTTP ${reply.status}).`, { status: reply.status });
  }
}

// The method and path of the API's route `name` (contract.js, generated from the app's routes),
// each {parameter} filled in as one path segment, with the query's set values appended.
export function route(name, params = {}, query = {}) {
  const found = ROUTES[name];
  if (!found) throw new Error(`the API has no route ${name}`);
  const [method, template] = found;
  const path = template.replace(/\{(\w+)\}/g, (_, p) => encodeURIComponent(params[p]));
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") search.set(k, v);
  const text = search.toString();
  return [method, text ? `${path}?${text}` : path];
}

export const api = {
  uploads: (table) => call(...route("list_uploads", {}, { table })),
  upload: (id) => call(...route("get_upload", { upload_id: id })),
  createUpload: (table, filename, size, options = {}) =>
    call(...route("create_upload"), { table, filename, size, ...options }),
  cancelUpload: (id) => call(...route("cancel_upload", { upload_id: id })),
  retry: (id) => call(...route("retry_upload", { upload_id: id })),
  createMultipart: (table, filename, size, part_size, options = {}) =>
    call(...route("create_multipart_upload"), { table, filename, size, part_size, ...options }),
  signParts: (id, numbers) =>
    call(...route("sign_upload_parts", { upload_id: id }), { part_numbers: numbers }),
  completeMultipart: (id, parts) =>
    call(...route("complete_multipart_upload", { upload_id: id }), { parts }),
  hiresByQuarter: (year) => call(...route("get_hires_by_quarter", {}, { year })),
  departmentsAboveMean: (year) => call(...route("get_departments_above_mean", {}, { year })),
  backups: () => call(...route("list_backups")),
  createBackup: (table, format) => call(...route("create_backup", {}, { format }), { table }),
  restore: (backup_id, table) => call(...route("create_restore"), { backup_id, table }),
};

// S3 answers errors in XML: its Code and Message, as text, never as markup.
export function s3Error(status, text, what) {
  let detail = "";
  try {
    const xml = new DOMParser().parseFromString(text || "", "application/xml");
    const code = xml.querySelector("Code")?.textContent || "";
    const message = xml.querySelector("Message")?.textContent || "";
    detail = [code, message].filter(Boolean).join(": ");
  } catch {
    detail = "";
  }
  return new ApiError(`S3 refused ${what}: ${detail || "no details"} (HTTP ${status})`, {
    status,
    kind: "s3",
  });
}

// Shared formatting.
export function formatBytes(n) {
  if (!Number.isFinite(n)) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatNumber(value) {
  if (value === null || value === undefined) return "-";
  return typeof value === "number" ? value.toLocaleString("en-US") : String(value);
}

// One way to show a time everywhere: the API's UTC timestamps as "2021-11-26 14:54:35" (the
// columns say UTC), whatever their precision; text that is not a time is shown as it is.
export function formatDate(value) {
  if (!value) return "-";
  const when = new Date(String(value));
  if (Number.isNaN(when.getTime())) return String(value);
  return when.toISOString().slice(0, 19).replace("T", " ");
}

export function formatSeconds(s) {
  if (!Number.isFinite(s) || s < 0) return "-";
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.ceil(s - m * 60)} s`;
}

// A new element with text content only (never markup) and attributes.
export function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    if (cell instanceof Node) {
      const td = document.createElement("td");
      td.append(cell);
      tr.append(td);
    } else if (cell && typeof cell === "object") {
      tr.append(el("td", cell.text, cell.attrs || {}));
    } else {
      tr.append(el("td", cell));
    }
  }
  return tr;
}

// Each body cell of a table learns its column's name (data-label), which a narrow screen shows
// beside the value once the table's rows are stacked.
export function labelCells(table) {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.cells].forEach((td, i) => {
      if (names[i] && !td.hasAttribute("colspan")) td.dataset.label = names[i];
    });
  }
}

export function badge(state) {
  return el("span", state, { class: `badge state-${String(state).replace(/[^a-z]/g, "")}` });
}
