// Sending a file's bytes to S3 through the presigned requests the API hands out, as the ingest
// client does: one presigned POST up to 100 MiB, parallel part PUTs above. Reports bytes sent;
// cancel() aborts every request in flight and asks the API to cancel the upload.

import { api, ApiError, s3Error } from "./api.js";

export const MULTIPART_THRESHOLD = 100 * 1024 ** 2;
export const MAX_FILE_BYTES = 5 * 1024 ** 4; // S3's largest object
const MiB = 1024 ** 2;
const MIN_PART = 5 * MiB;
const MAX_PART = 64 * MiB;
const WORKERS = 4;
const PART_ATTEMPTS = 3;

// Parts of 5 to 64 MiB, aiming at four or more, so even a modest file goes up in parallel.
export function partSize(size) {
  const quarter = Math.ceil(size / 4 / MiB) * MiB;
  return Math.min(MAX_PART, Math.max(MIN_PART, quarter));
}

function send(method, url, body, onProgress, requests) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    requests.add(xhr);
    xhr.open(method, url);
    let reported = 0;
    xhr.upload.onprogress = (event) => {
      onProgress(event.loaded - reported);
      reported = event.loaded;
    };
    xhr.onload = () => {
      requests.delete(xhr);
      resolve({ xhr, reported });
    };
    xhr.onerror = () => {
      requests.delete(xhr);
      const error = new ApiError("the connection to S3 failed (network, or the bucket's CORS rules)", {
        kind: "network",
      });
      reject(Object.assign(error, { reported }));
    };
    xhr.onabort = () => {
      requests.delete(xhr);
      reject(new ApiError("cancelled", { kind: "cancelled" }));
    };
    xhr.send(body);
  });
}

export class Transfer {
  constructor(file, table, { multipart = null, options = {}, onProgress = () => {}, onStarted = () => {} } = {}) {
    this.file = file;
    this.table = table;
    this.options = options;
    this.useMultipart = multipart ?? file.size > MULTIPART_THRESHOLD;
    this.onProgress = onProgress;
    this.onStarted = onStarted;
    this.requests = new Set();
    this.cancelled = false;
    this.uploadId = null;
  }

  // Resolves to the upload id once S3 has the whole file; rejects with an ApiError.
  async run() {
    const { file, table } = this;
    if (file.size === 0) throw new ApiError(`${file.name} is empty: there is nothing to upload.`);
    if (file.size > MAX_FILE_BYTES) {
      throw new ApiError(`${file.name} is too large: S3 takes at most 5 TiB in one object.`);
    }
    const grant = this.useMultipart
      ? await api.createMultipart(table, file.name, file.size, partSize(file.size), this.options)
      : await api.createUpload(table, file.name, file.size, this.options);
    this.uploadId = grant.upload_id;
    this.onStarted(grant);
    try {
      if (this.cancelled) throw new ApiError("cancelled", { kind: "cancelled" });
      if (this.useMultipart) await this.sendParts(grant);
      else await this.post(grant);
    } catch (exc) {
      this.abortAll();
      await this.cancelQuietly();
      throw exc;
    }
    return this.uploadId;
  }

  async post(grant) {
    const form = new FormData();
    for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
    form.append("file", this.file, this.file.name); // S3 wants the file last
    const { xhr } = await send("POST", grant.url, form, this.onProgress, this.requests);
    if (xhr.status >= 300) throw s3Error(xhr.status, xhr.responseText, this.file.name);
  }

  async sendParts(grant) {
    const size = Number(grant.size);
    const part = Number(grant.part_size);
    const count = Number(grant.part_count);
    const etags = new Array(count);
    let next = 1;
    const worker = async () => {
      while (next <= count && !this.cancelled) {
        const number = next;
        next += 1;
        etags[number - 1] = await this.sendPart(grant.upload_id, number, part, size);
      }
    };
    await Promise.all(Array.from({ length: Math.min(WORKERS, count) }, worker));
    if (this.cancelled) throw new ApiError("cancelled", { kind: "cancelled" });
    const parts = etags.map((etag, i) => ({ part_number: i + 1, etag }));
    await api.completeMultipart(grant.upload_id, parts);
  }

  async sendPart(uploadId, number, part, size) {
    const start = (number - 1) * part;
    const blob = this.file.slice(start, Math.min(size, start + part));
    for (let attempt = 1; ; attempt += 1) {
      const signed = await api.signParts(uploadId, [number]);
      try {
        const { xhr, reported } = await send("PUT", signed.parts[0].url, blob, this.onProgress, this.requests);
        if (xhr.status < 300) {
          const etag = xhr.getResponseHeader("ETag");
          if (!etag) {
            throw new ApiError("S3 did not show the part's ETag: the bucket's CORS rules must expose it", {
              kind: "s3",
            });
          }
          return etag;
        }
        this.onProgress(-reported);
        if (xhr.status < 500 || attempt >= PART_ATTEMPTS) {
          throw s3Error(xhr.status, xhr.responseText, `part ${number} of ${this.file.name}`);
        }
      } catch (exc) {
        if (exc.kind !== "network" || attempt >= PART_ATTEMPTS) throw exc;
        this.onProgress(-(exc.reported || 0)); // those bytes go again
      }
    }
  }

  abortAll() {
    for (const xhr of [...this.requests]) xhr.abort();
  }

  async cancelQuietly() {
    if (!this.uploadId) return false;
    try {
      await api.cancelUpload(this.uploadId);
      return true;
    } catch {
      return false; // already arrived, or the API is gone
    }
  }

  cancel() {
    this.cancelled = true;
    this.abortAll();
  }
}
