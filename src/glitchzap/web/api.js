// The one place the page talks to the server: every route the studio uses, and its errors.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** True for the error fetch() raises when its AbortController fires. */
export function isAbort(error) {
  return error?.name === "AbortError";
}

/** True when the route itself does not exist on this server (not a missing image or template). */
export function isMissingRoute(error) {
  return error instanceof ApiError && (error.status === 404 || error.status === 405)
    && /^(Not Found|Method Not Allowed)$/.test(error.message);
}

function headers(extra = {}) {
  const key = sessionStorage.getItem("glitchzap-api-key");
  return key ? { ...extra, "X-API-Key": key } : extra;
}

async function errorFrom(response) {
  let code = "http_" + response.status;
  let message = `The server answered ${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.message === "string") {
      code = body.error || code;
      message = body.message;
    }
  } catch {
    // not JSON (a proxy's HTML page, say): keep the generic message
  }
  if (response.status === 401) message += " (set a key with ?api_key=… in the page address)";
  return new ApiError(response.status, code, message);
}

async function request(method, path, { json, form, signal } = {}) {
  const init = { method, signal, headers: headers() };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers = headers({ "Content-Type": "application/json" });
  } else if (form !== undefined) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, "network", "Cannot reach the glitchzap server; is it still running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

const getJson = async (path, options) => (await request("GET", path, options)).json();
const postJson = async (path, json, options) => (await request("POST", path, { ...options, json })).json();
const postBlob = async (path, json, options) => (await request("POST", path, { ...options, json })).blob();

/** {image_id, width, height, frames, animated, duration_ms} of an uploaded File/Blob. */
export function uploadImage(file, signal) {
  const form = new FormData();
  form.append("file", file, file.name || "pasted-image");
  return request("POST", "/api/images", { form, signal }).then((r) => r.json());
}

/** {image_id, width, height, frames, animated, duration_ms} of an image fetched from `url`. */
export const uploadUrl = (url, signal) => postJson("/api/images", { url }, { signal });

/** Effect name -> {summary, primary, schema}, in engine order. */
export const getEffects = () => getJson("/api/effects");
/** memegen's caption fonts: [{id, alias, family, present, default}], in memegen's order. */
export const getFonts = () => getJson("/api/fonts");

/** What the server accepts: {max_bytes, max_pixels, max_frames, max_text_length}. */
export const getLimits = () => getJson("/api/limits");

/** Named looks: preset name -> recipe ({effects, seed?}). */
export const getPresets = () => getJson("/api/presets");

/** The rendered image as a Blob: `body` is {image_id, recipe, quality, format?}. */
export const renderImage = (body, signal) => postBlob("/api/render", body, { signal });

/** The subject alone (POST /api/remove-background): transparent, or on a backdrop. */
export const cutOut = (body, signal) => postBlob("/api/remove-background", body, { signal });

export const getPerformance = (signal) => getJson("/api/performance", { signal });

/** Text regions [{box: [[x, y] ×4], text, score}] found in a stored image. */
export async function findText(imageId, signal) {
  const body = await postJson("/api/ocr", { image_id: imageId }, { signal });
  return Array.isArray(body) ? body : body.regions || [];
}

/** The picture with its text erased (`mode`: auto, always or never) to show: a JPEG, or an
 * animated WebP (every frame erased) when `animated`. */
export const eraseText = (imageId, mode, signal, animated = false) =>
  postBlob("/api/erase-text", { image_id: imageId, mode, format: animated ? "webp" : "jpeg" }, { signal });

/** The finished meme as a Blob (the server erases old text and draws the captions). */
export const makeMeme = (body, signal) => postBlob("/api/meme", body, { signal });

function listOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  for (const key of keys) if (Array.isArray(body?.[key])) return body[key];
  return [];
}

/**
 * Templates matching `query` (all when empty): [{id, name, ...}].
 * Uses `/api/templates[/search]`; a server without the template library still offers
 * memegen's `/templates` list, which is filtered here by name and keywords.
 */
export async function searchTemplates(query, signal) {
  const q = query.trim();
  try {
    const path = q ? `/api/templates/search?q=${encodeURIComponent(q)}&limit=100` : "/api/templates?order=popular";
    return listOf(await getJson(path, { signal }), "results", "templates", "items");
  } catch (error) {
    if (!isMissingRoute(error)) throw error;
  }
  const all = listOf(await getJson("/templates", { signal }), "templates");
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const text = (t) => [t.id, t.name, ...(t.keywords || [])].join(" ").toLowerCase();
  return words.length ? all.filter((t) => words.every((w) => text(t).includes(w))) : all;
}

/** URL of a template's clean picture, `width` px wide (memegen's blank image route). */
export const templateImageUrl = (id, width) =>
  `/images/${encodeURIComponent(id)}.png${width ? `?width=${width}` : ""}`;

/** The text boxes of a template (memegen's shape), or [] when it has none. */
export async function getTemplate(id, signal) {
  try {
    return await getJson(`/api/templates/${encodeURIComponent(id)}`, { signal });
  } catch (error) {
    if (!isMissingRoute(error)) throw error;
  }
  return getJson(`/templates/${encodeURIComponent(id)}`, { signal });
}

/**
 * The honest suggestion for a stored image: {verdict: "none" | "probable" | "sure", id,
 * message}. Below the match threshold the verdict is "none" and no template is named.
 */
export async function matchTemplate(imageId, signal) {
  const body = await postJson("/api/templates/match", { image_id: imageId }, { signal });
  if (body?.suggestion) return body.suggestion;
  const best = listOf(body, "matches").find((m) => m.matched); // an older server: no suggestion
  return best
    ? { verdict: "probable", id: best.id, message: `Probably ${best.id}` }
    : { verdict: "none", id: null, message: "No known template" };
}
