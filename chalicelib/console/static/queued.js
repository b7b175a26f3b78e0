// How one file in the Upload view's queue reads: its transfer, pipeline and row counts, why it
// failed, and whether sending it again can end otherwise. Words only; upload.js draws them.

import { formatBytes, formatNumber, formatSeconds } from "./api.js";

// Whether sending the file again can end differently: after a cancel or a transfer cut on the
// way, yes; after the API, the page or the pipeline refused the file, only with another table or
// option than it was sent with (the same bytes sent the same way fail the same way); after a load
// with a warning that names an option, with that option.
export function resendable(item, option) {
  if (item.phase === "cancelled") return true;
  if (item.phase === "loaded") return Boolean(option);
  if (item.phase !== "failed") return false;
  if (item.failedIn === "transfer") return true;
  const now = { table: item.table, ...item.options };
  return Object.keys(now).some((name) => now[name] !== item.sentAs?.[name]);
}

export function describeFailure(item, exc) {
  if (exc.kind === "key" || exc.kind === "unreachable") return exc.message;
  if (exc.status === 400 && /^size must be/.test(exc.message)) {
    return `${item.name} is too large to upload (${formatBytes(item.size)}): ${exc.message}.`;
  }
  if (exc.message.startsWith(item.name)) return exc.message; // it names the file already
  return `${item.name} was not uploaded: ${exc.message}`;
}

export function transferText(item) {
  if (item.phase === "queued") return "waiting to be sent";
  const parts = item.parts ? ` in ${item.parts} parts` : "";
  if (item.phase !== "sending") return item.sent ? `${formatBytes(item.size)} sent${parts}` : "";
  const elapsed = (performance.now() - item.startedAt) / 1000;
  const rate = elapsed > 0 ? item.sent / elapsed : 0;
  const left = rate > 0 ? (item.size - item.sent) / rate : Number.NaN;
  return `${formatBytes(item.sent)} of ${formatBytes(item.size)} · ${formatBytes(rate)}/s · ${formatSeconds(left)} left${parts}`;
}

export function pipelineText(item) {
  if (item.chunksTotal === null || item.chunksTotal === undefined) {
    return item.phase === "processing" ? "splitting" : "";
  }
  return `chunks ${formatNumber(item.chunksDone ?? 0)} of ${formatNumber(item.chunksTotal)}`;
}

export function rowsText(item) {
  if (item.rowsTotal === null || item.rowsTotal === undefined) return "";
  const rows = item.rowsTotal === 1 ? "row" : "rows";
  return `${formatNumber(item.rowsTotal)} ${rows}: ${formatNumber(item.rowsValid)} valid, ${formatNumber(item.rowsRejected)} rejected`;
}
