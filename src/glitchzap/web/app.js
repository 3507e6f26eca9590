// Studio start-up: tabs, image input (drop, pick, paste, URL) and the shared current image.
import { getLimits, isMissingRoute, uploadImage, uploadUrl } from "/static/api.js";
import { setupGlitch } from "/static/glitch.js";
import { setupMeme } from "/static/meme.js";
import { setupPerformance } from "/static/perf.js";
import { $, clearError, setStatus, showError } from "/static/ui.js";

/** The image every tab works on; `image-changed` events announce a new one. */
export const studio = { image: null };

function setImage(info, name) {
  studio.image = { ...info, name };
  const frames = info.animated ? ` · ${info.frames} frames, ${(info.duration_ms / 1000).toFixed(1)} s` : "";
  $("image-info").textContent = `${name}: ${info.width} × ${info.height} px${frames}`;
  document.dispatchEvent(new CustomEvent("image-changed", { detail: studio.image }));
}

/** What the server accepts (GET /api/limits); null until known (or on an older server). */
let limits = null;

const megabytes = (bytes) => { // MB of 1024 x 1024 bytes, as the settings count them
  const mb = bytes / 1048576;
  return `${mb >= 10 ? Math.round(mb) : mb.toFixed(1).replace(/\.0$/, "")} MB`;
};

/** The upload box says the limits in words, before anything is refused. */
async function showLimits() {
  try {
    limits = await getLimits();
  } catch (error) {
    if (isMissingRoute(error)) return;
    throw error;
  }
  const pixels = Math.round(limits.max_pixels / 1e6);
  $("dropzone-limits").textContent =
    ` · files up to ${megabytes(limits.max_bytes)} and ${pixels} megapixels` +
    `, animations up to ${limits.max_frames.toLocaleString("en")} frames`;
}

async function useFile(file) {
  if (!file) return;
  clearError();
  if (limits && file.size > limits.max_bytes) {
    showError(`${file.name || "This file"} is ${megabytes(file.size)}: the studio takes files up to ` +
      `${megabytes(limits.max_bytes)}. Save a smaller copy (fewer pixels or JPEG) and try again.`);
    return;
  }
  setStatus(`Uploading ${file.name || "image"}…`);
  try {
    setImage(await uploadImage(file), file.name || "pasted image");
    setStatus("");
  } catch (error) {
    setStatus("");
    showError(error);
  }
}

async function useUrl(url) {
  clearError();
  setStatus("Fetching the image…");
  try {
    setImage(await uploadUrl(url), url.split("/").pop() || url);
    setStatus("");
  } catch (error) {
    setStatus("");
    showError(error);
  }
}

function setupInput() {
  const zone = $("dropzone");
  $("file-input").addEventListener("change", (event) => useFile(event.target.files[0]));
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("file-input").click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = [...(event.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/"));
    const url = event.dataTransfer?.getData("text/uri-list");
    if (file) useFile(file);
    else if (url) useUrl(url.split("\n")[0].trim());
  });
  document.addEventListener("paste", (event) => {
    if (event.target.closest?.("input, textarea, [contenteditable]")) return;
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) {
      event.preventDefault();
      useFile(item.getAsFile());
    }
  });
  $("url-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = $("url-input").value.trim();
    if (url) useUrl(url);
  });
}

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  document.dispatchEvent(new CustomEvent("tab-changed", { detail: tab.id }));
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  }
  const wanted = tabs.find((t) => `#${t.id.slice(4)}` === location.hash);
  if (wanted) selectTab(wanted);
}

function rememberApiKey() {
  const params = new URLSearchParams(location.search);
  const key = params.get("api_key");
  if (!key) return;
  sessionStorage.setItem("glitchzap-api-key", key);
  params.delete("api_key");
  history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}${location.hash}`);
}

rememberApiKey();
$("error-close").addEventListener("click", () => clearError());
setupInput();
setupMeme(studio);
setupPerformance();
setupGlitch(studio).catch(showError);
setupTabs();
showLimits().catch(showError);
document.body.dataset.ready = "true";
