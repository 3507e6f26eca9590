// Small DOM helpers shared by the tabs: element lookup, messages, downloads, debouncing.
import { ApiError, isAbort } from "/static/api.js";

export const $ = (id) => document.getElementById(id);

/** A new element: el("button", {type: "button", class: "x"}, "text", child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

/** A short, polite status line (screen readers hear it too). */
export function setStatus(text) {
  $("status").textContent = text;
}

/** Show what went wrong; aborted requests are not errors, the newer request took over. */
/** Show what went wrong: beside the control that caused it when `slot` (the id of an
 * element there) is given, else in the banner under the header. Aborted requests are not
 * errors: a newer request took over. */
export function showError(error, slot = null) {
  if (isAbort(error)) return;
  const message = error instanceof ApiError ? error.message : String(error?.message || error);
  if (slot) {
    $(slot).textContent = message;
    $(slot).hidden = false;
  } else {
    $("error-text").textContent = message;
    $("error").hidden = false;
  }
  if (!(error instanceof ApiError) && typeof error !== "string") console.error(error); // a bug
}

export function clearError(slot = null) {
  if (slot) {
    $(slot).hidden = true;
    $(slot).textContent = "";
    return;
  }
  $("error").hidden = true;
  $("error-text").textContent = "";
}

/** A pointer drag that began with `event` on `target`: `onMove(e)` on every move until the
 * pointer is released (captured, so it follows outside `target` too). */
export function dragPointer(target, event, onMove) {
  target.setPointerCapture(event.pointerId);
  const end = () => {
    target.removeEventListener("pointermove", onMove);
    target.removeEventListener("pointerup", end);
    target.removeEventListener("pointercancel", end);
  };
  target.addEventListener("pointermove", onMove);
  target.addEventListener("pointerup", end);
  target.addEventListener("pointercancel", end);
}

/** Save a Blob under `filename` through a temporary link. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A download's file name: the upload's name without its extension, spaces and other
 * characters a shell or a URL would trip on turned into dashes, then `-suffix.ext`. */
export function downloadName(name, fallback, suffix, extension) {
  const stem = String(name || "").replace(/\.[^.]*$/, "").replace(/[^\p{L}\p{N}_.-]+/gu, "-")
    .replace(/-{2,}/g, "-").replace(/^[-.]+|[-.]+$/g, "");
  return `${stem || fallback}-${suffix}.${extension}`;
}

export const EXTENSIONS = { png: "png", jpeg: "jpg", webp: "webp", gif: "gif", apng: "png" };

/** Copy text to the clipboard, falling back to a hidden textarea where the API is refused. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // insecure origin or permission refused: the old way still works in most browsers
  }
  const area = el("textarea", { class: "visually-hidden" });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/** Resolves just after the next frame is painted (rAF runs before paint; a message after it). */
export function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve(performance.now());
    channel.port2.postMessage(0);
  }));
}

/** Show `blob` in `img` once decoded; resolves with the time the new frame was painted. */
export async function paintBlob(img, blob) {
  const url = URL.createObjectURL(blob);
  const old = img.dataset.objectUrl;
  img.src = url;
  img.dataset.objectUrl = url;
  try {
    await img.decode();
  } finally {
    if (old) URL.revokeObjectURL(old);
  }
  return afterPaint();
}
