// Meme tab: a picture (upload or template), its detected text outlined, caption boxes edited
// in place (drag, resize, font, colour, style), and the finished meme rendered by the server.
import {
  eraseText, findText, getFonts, getTemplate, isAbort, isMissingRoute, makeMeme, matchTemplate, renderImage,
  searchTemplates, templateImageUrl, uploadImage,
} from "/static/api.js";
import {
  $, EXTENSIONS, clearError, downloadBlob, downloadName, dragPointer, el, paintBlob, setStatus,
  showError,
} from "/static/ui.js";

const DEFAULT_BOXES = [ // memegen's default layout: a band at the top and one at the bottom
  { anchor_x: 0, anchor_y: 0, scale_x: 1, scale_y: 0.2 },
  { anchor_x: 0, anchor_y: 0.8, scale_x: 1, scale_y: 0.2 },
];
const MIN_SCALE = 0.05; // smallest box side, as a fraction of the picture
const KEY_STEP = 0.01; // arrow keys move or resize by 1 % of the picture
const SEARCH_DEBOUNCE_MS = 200;
const THUMB_WIDTH = 160;
const RENDER_DEBOUNCE_MS = 250; // a pause in editing after which the server draws the meme
const NEW_CAPTION = { scale_x: 0.8, scale_y: 0.2 }; // a caption added with "Add caption"
// The font menu's value for each name a caption may carry: memegen id, alias ("thick",
// "comic", "thin"…) or family, lower-cased; the default font's value is "" (sends none).
const FONT_VALUES = new Map();

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

function outlineFor(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b >= 100 ? "#000" : "#fff"; // as captions.outline_color
}

/** One caption: its memegen box (fractions of the picture) plus text and looks. */
class Caption {
  constructor(box, editor) {
    this.box = { anchor_x: 0, anchor_y: 0, scale_x: 1, scale_y: 0.2, ...box };
    this.text = box.text || "";
    this.color = /^#[0-9a-f]{6}$/i.test(box.color || "") ? box.color : "#ffffff";
    this.font = box.font && box.font !== "impact" ? box.font : "";
    this.style = box.style || "upper";
    this.editor = editor;
    this.textNode = el("span", {
      class: "caption-text", contenteditable: "plaintext-only", spellcheck: "false",
      "data-placeholder": "Type a caption", "aria-label": "Caption text", role: "textbox",
    });
    this.textNode.textContent = this.text;
    this.moveHandle = el("button", { type: "button", class: "handle move", tabindex: "-1", "aria-hidden": "true" }, "✥");
    this.resizeHandle = el("button", { type: "button", class: "handle resize", tabindex: "-1", "aria-hidden": "true" }, "◢");
    this.node = el("div", {
      class: "caption-box", tabindex: "0", role: "group",
      "aria-label": "Caption box: arrow keys move it, Shift+arrows resize it, Enter edits the text",
    }, this.textNode, this.moveHandle, this.resizeHandle);
    this.textNode.addEventListener("input", () => {
      this.text = this.textNode.textContent;
      this.fit();
      editor.changed();
    });
    this.textNode.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.node.focus();
      event.stopPropagation(); // arrows edit the text here, they do not move the box
    });
    this.node.addEventListener("focusin", () => editor.select(this));
    this.node.addEventListener("keydown", (event) => this.onKey(event));
    this.dragWith(this.moveHandle, (dx, dy, start) => {
      this.box.anchor_x = clamp(start.anchor_x + dx, 0, 1 - this.box.scale_x);
      this.box.anchor_y = clamp(start.anchor_y + dy, 0, 1 - this.box.scale_y);
    });
    this.dragWith(this.resizeHandle, (dx, dy, start) => {
      this.box.scale_x = clamp(start.scale_x + dx, MIN_SCALE, 1 - this.box.anchor_x);
      this.box.scale_y = clamp(start.scale_y + dy, MIN_SCALE, 1 - this.box.anchor_y);
    });
    this.layout();
  }

  /** Pointer drags on `handle` call `apply(dx, dy, boxAtStart)` in picture fractions. */
  dragWith(handle, apply) {
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      this.editor.select(this);
      const rect = this.editor.canvas.getBoundingClientRect();
      const start = { ...this.box, x: event.clientX, y: event.clientY };
      dragPointer(handle, event, (e) => {
        apply((e.clientX - start.x) / rect.width, (e.clientY - start.y) / rect.height, start);
        this.layout();
      });
    });
  }

  onKey(event) {
    if (event.key === "Enter") {
      event.preventDefault();
      this.textNode.focus();
      return;
    }
    const delta = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[event.key];
    if (!delta) return;
    event.preventDefault();
    const [dx, dy] = delta.map((d) => d * KEY_STEP);
    const b = this.box;
    if (event.shiftKey) {
      b.scale_x = clamp(b.scale_x + dx, MIN_SCALE, 1 - b.anchor_x);
      b.scale_y = clamp(b.scale_y + dy, MIN_SCALE, 1 - b.anchor_y);
    } else {
      b.anchor_x = clamp(b.anchor_x + dx, 0, 1 - b.scale_x);
      b.anchor_y = clamp(b.anchor_y + dy, 0, 1 - b.scale_y);
    }
    this.layout();
  }

  layout() {
    const s = this.node.style;
    s.left = `${this.box.anchor_x * 100}%`;
    s.top = `${this.box.anchor_y * 100}%`;
    s.width = `${this.box.scale_x * 100}%`;
    s.height = `${this.box.scale_y * 100}%`;
    s.color = this.color;
    s.textTransform = { upper: "uppercase", lower: "lowercase" }[this.style] || "none";
    s.fontFamily = this.font ? `"${this.font.replace(/ Bold$/, "")}", sans-serif` : "";
    this.textNode.style.textShadow = [[-2, -2], [2, -2], [-2, 2], [2, 2], [0, 2], [2, 0], [0, -2], [-2, 0]]
      .map(([x, y]) => `${x}px ${y}px 0 ${outlineFor(this.color)}`).join(", ");
    this.fit();
    this.editor.changed?.();
  }

  /** The largest font size at which the text fits its box (as the server's auto-fit does). */
  fit() {
    const box = this.node;
    const height = box.clientHeight;
    if (!height) return;
    let lo = 6;
    let hi = Math.max(lo, height);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      this.textNode.style.fontSize = `${mid}px`;
      const fits = this.textNode.scrollWidth <= box.clientWidth + 1 && this.textNode.scrollHeight <= height + 1;
      if (fits) lo = mid;
      else hi = mid;
    }
    this.textNode.style.fontSize = `${lo}px`;
  }

  /** This caption's box in the API's shape (`TextBox`). */
  toTextBox() {
    const round = (v) => Math.round(v * 10_000) / 10_000;
    return {
      anchor_x: round(this.box.anchor_x), anchor_y: round(this.box.anchor_y),
      scale_x: round(this.box.scale_x), scale_y: round(this.box.scale_y),
      color: this.color, style: this.style, ...(this.font ? { font: this.font } : {}),
    };
  }
}

class MemeEditor {
  constructor(studio) {
    this.studio = studio;
    this.canvas = $("meme-canvas");
    this.captions = [];
    this.selected = null;
    this.source = null; // {image_id} of an upload, or {template_id, name}
    this.regions = [];
    this.size = null; // natural size of the picture shown
    this.dirty = false;
    this.visible = false;
    this.controller = null;
    this.originalBlob = null; // the upload as first shown, before any erasing
    this.renderTimer = null;
    this.renderController = null;
    this.renderSequence = 0;
    new ResizeObserver(() => this.captions.forEach((c) => c.fit())).observe(this.canvas);
  }

  /** Something the download depends on changed: the page's own text shows at once, and
   * after a pause the server draws the meme exactly as the download will be. */
  changed() {
    this.renderSequence += 1;
    this.canvas.classList.remove("rendered");
    $("meme-rendered").hidden = true;
    clearTimeout(this.renderTimer);
    this.renderTimer = setTimeout(() => this.renderPreview(), RENDER_DEBOUNCE_MS);
  }

  /** The server's render of the current captions, laid over the picture (one renderer for
   * what is seen and what downloads); animations keep the page's text. */
  async renderPreview() {
    const source = this.source;
    if (!source?.image_id || source.animated || !this.size) return;
    const body = this.requestBody("png");
    if (!body.captions.length) return; // nothing drawn: the picture shown is the download
    const sequence = this.renderSequence;
    this.renderController?.abort();
    const controller = (this.renderController = new AbortController());
    try {
      const blob = await makeMeme(body, controller.signal);
      if (sequence !== this.renderSequence || this.source !== source) return;
      await paintBlob($("meme-rendered"), blob);
      if (sequence !== this.renderSequence) return;
      $("meme-rendered").hidden = false;
      this.canvas.classList.add("rendered");
      document.dispatchEvent(new CustomEvent("meme-rendered", { detail: { body } }));
    } catch (error) {
      if (!isAbort(error)) showError(error);
    }
  }

  select(caption) {
    this.selected = caption;
    for (const c of this.captions) c.node.classList.toggle("selected", c === caption);
    if (!caption) return;
    $("caption-font").value = FONT_VALUES.get(caption.font.toLowerCase()) ?? caption.font;
    if ($("caption-font").selectedIndex < 0) $("caption-font").value = ""; // unknown: the default
    $("caption-color").value = caption.color;
    $("caption-color-value").textContent = caption.color;
    $("caption-style").value = caption.style;
  }

  setBoxes(boxes) {
    this.captions = boxes.map((box) => new Caption(box, this));
    $("meme-boxes").replaceChildren(...this.captions.map((c) => c.node));
    this.select(this.captions[0] || null);
    this.changed();
  }

  /** Where a new caption goes: the band of the picture that overlaps the other captions and
   * the text found in it least (the middle first when several are free). */
  freeBand() {
    const { scale_x: w, scale_y: h } = NEW_CAPTION;
    const x = (1 - w) / 2;
    const taken = this.captions.map((c) => c.box);
    if (this.source?.width) {
      for (const region of this.regions) {
        const xs = region.box.map(([px]) => px / this.source.width);
        const ys = region.box.map(([, py]) => py / this.source.height);
        taken.push({
          anchor_x: Math.min(...xs), anchor_y: Math.min(...ys),
          scale_x: Math.max(...xs) - Math.min(...xs), scale_y: Math.max(...ys) - Math.min(...ys),
        });
      }
    }
    const overlap = (y) => taken.reduce((sum, b) => {
      const dx = Math.min(x + w, b.anchor_x + b.scale_x) - Math.max(x, b.anchor_x);
      const dy = Math.min(y + h, b.anchor_y + b.scale_y) - Math.max(y, b.anchor_y);
      return sum + Math.max(0, dx) * Math.max(0, dy);
    }, 0);
    let best = null;
    for (let i = 0; i <= 16; i += 1) {
      const y = (i / 16) * (1 - h);
      const score = overlap(y) + 1e-4 * Math.abs(y - (1 - h) / 2); // ties: nearest the middle
      if (best === null || score < best.score) best = { y, score };
    }
    return { anchor_x: x, anchor_y: best.y, ...NEW_CAPTION };
  }

  addCaption() {
    const caption = new Caption(this.freeBand(), this);
    this.captions.push(caption);
    $("meme-boxes").append(caption.node);
    caption.textNode.focus();
  }

  removeSelected() {
    if (!this.selected) return;
    this.selected.node.remove();
    this.captions = this.captions.filter((c) => c !== this.selected);
    this.select(this.captions[0] || null);
    this.changed();
  }

  /** Show `blob` as the picture being edited and lay the captions over it. */
  async show(blob) {
    $("meme-empty").hidden = true;
    this.canvas.hidden = false;
    await paintBlob($("meme-image"), blob);
    this.size = [$("meme-image").naturalWidth, $("meme-image").naturalHeight];
    this.captions.forEach((c) => c.fit());
    $("meme-download").disabled = false;
    this.changed();
  }

  drawRegions() {
    const svg = $("meme-regions");
    svg.replaceChildren();
    if (!this.source?.image_id || !this.source.width) return;
    svg.setAttribute("viewBox", `0 0 ${this.source.width} ${this.source.height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.hidden = !$("show-regions").checked;
    for (const region of this.regions) {
      const polygon = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
      polygon.setAttribute("points", region.box.map(([x, y]) => `${x},${y}`).join(" "));
      polygon.setAttribute("data-text", region.text);
      polygon.append(Object.assign(document.createElementNS("http://www.w3.org/2000/svg", "title"), { textContent: region.text }));
      svg.append(polygon);
    }
  }

  async loadUpload(image) {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    const signal = controller.signal;
    this.source = { image_id: image.image_id, width: image.width, height: image.height, animated: Boolean(image.animated) };
    $("existing-text").hidden = false; // an upload's own text: erase or keep it
    this.regions = [];
    this.drawRegions();
    $("suggestion").hidden = true;
    $("ocr-info").textContent = "Looking for text in the picture…";
    if (!this.captions.length) this.setBoxes(DEFAULT_BOXES);
    try {
      const body = { image_id: image.image_id, recipe: { effects: {} }, quality: "high" };
      this.originalBlob = await renderImage(body, signal);
      await this.show(this.originalBlob);
      await Promise.all([this.findText(signal), this.suggestTemplate(signal)]);
    } catch (error) {
      showError(error);
    }
  }

  async findText(signal) {
    try {
      this.regions = await findText(this.source.image_id, signal);
    } catch (error) {
      if (isAbort(error)) throw error;
      $("ocr-info").textContent = isMissingRoute(error)
        ? "Text detection is not available on this server (POST /api/ocr)."
        : `Text detection failed: ${error.message}`;
      return;
    }
    this.drawRegions();
    if (this.regions.length && this.captions.every((c) => !c.text.trim())) this.prefill();
    await this.showErased(signal);
    const n = this.regions.length;
    $("ocr-info").textContent = n
      ? `Found ${n} text region${n > 1 ? "s" : ""}: ${this.regions.map((r) => `“${r.text}”`).join(", ")}`
      : "No text found in the picture.";
    document.body.dataset.ocrDone = String(n);
  }

  /** The text found, as editable captions where it stands (while no caption has been typed):
   * regions on neighbouring lines form one caption, read top to bottom, left to right. */
  prefill() {
    const { width, height } = this.source;
    const rects = this.regions.map((region) => {
      const xs = region.box.map(([x]) => x / width);
      const ys = region.box.map(([, y]) => y / height);
      return { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys), text: region.text };
    }).sort((a, b) => a.y0 - b.y0 || a.x0 - b.x0);
    const blocks = [];
    for (const r of rects) {
      const last = blocks[blocks.length - 1];
      const line = r.y1 - r.y0;
      const near = last && r.y0 <= last.y1 + 0.6 * line && r.x0 < last.x1 + line && r.x1 > last.x0 - line;
      if (!near) {
        blocks.push({ ...r, parts: [r] });
        continue;
      }
      Object.assign(last, {
        x0: Math.min(last.x0, r.x0), x1: Math.max(last.x1, r.x1), y1: Math.max(last.y1, r.y1),
      });
      last.parts.push(r);
    }
    this.setBoxes(blocks.map((b) => {
      const text = b.parts.map((p) => p.text.trim()).join(" ");
      const padY = 0.15 * (b.y1 - b.y0);
      const anchor_x = clamp(b.x0 - 0.02, 0, 1);
      const anchor_y = clamp(b.y0 - padY, 0, 1);
      return {
        text, anchor_x, anchor_y,
        scale_x: clamp(b.x1 + 0.02, 0, 1) - anchor_x,
        scale_y: Math.max(MIN_SCALE, clamp(b.y1 + padY, 0, 1) - anchor_y),
        style: /[a-z]/.test(text) ? "none" : "upper",
      };
    }));
  }

  /** Show the picture as the download will start from: its text erased, per the erase choice. */
  async showErased(signal) {
    const mode = document.querySelector('input[name="erase"]:checked').value;
    const image = this.source;
    if (!image?.image_id || image.template_id || !this.regions.length) return;
    try {
      const blob = mode === "never" ? this.originalBlob : await eraseText(image.image_id, mode, signal, image.animated);
      if (blob && this.source === image) await this.show(blob);
    } catch (error) {
      if (isAbort(error)) throw error;
      if (!isMissingRoute(error)) showError(error); // without the route, the original stays
    }
  }

  /** Say which known template the picture is, honestly: a template is only named (with a
   *  button to use it) at or above the match threshold; below it, "No known template". */
  async suggestTemplate(signal) {
    let suggestion;
    try {
      suggestion = await matchTemplate(this.source.image_id, signal);
    } catch (error) {
      if (isAbort(error)) throw error;
      return; // no template library here: no suggestion, nothing to report
    }
    const box = $("suggestion");
    box.dataset.verdict = suggestion.verdict;
    const text = el("span", {}, suggestion.message);
    if (suggestion.verdict === "none" || !suggestion.id) {
      box.replaceChildren(text);
    } else {
      const use = el("button", { type: "button", onclick: () => this.loadTemplate({ id: suggestion.id }) },
        "Use the clean template");
      box.replaceChildren(text, use);
    }
    box.hidden = false;
  }

  async loadTemplate(template) {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    clearError();
    this.source = null;
    this.regions = [];
    this.drawRegions();
    $("suggestion").hidden = true;
    $("ocr-info").textContent = `Template: ${template.name || template.id}`;
    $("existing-text").hidden = true; // a clean template has no text of its own
    try {
      const [info, response] = await Promise.all([
        getTemplate(template.id, controller.signal),
        fetch(templateImageUrl(template.id), { signal: controller.signal }),
      ]);
      const boxes = (info.text_boxes || info.text || []).filter((b) => typeof b === "object");
      const count = boxes.length || info.lines || 2;
      this.setBoxes(boxes.length ? boxes : DEFAULT_BOXES.slice(0, Math.max(1, Math.min(count, 2))));
      if (!response.ok) throw new Error(`The template picture did not load (${response.status})`);
      const blob = await response.blob();
      await this.show(blob);
      // The meme route takes an image_id: the clean template is stored like any upload.
      const stored = await uploadImage(new File([blob], `${template.id}.png`, { type: blob.type }), controller.signal);
      this.source = { ...stored, template_id: template.id, name: template.name || template.id };
      this.changed();
    } catch (error) {
      showError(error);
    }
  }

  requestBody(format) {
    const used = this.captions.filter((c) => c.text.trim());
    return {
      image_id: this.source.image_id,
      captions: used.map((c) => c.text),
      boxes: used.map((c) => c.toTextBox()),
      erase: document.querySelector('input[name="erase"]:checked').value,
      format,
    };
  }

  async download() {
    if (!this.source) return;
    const format = $("meme-format").value;
    const button = $("meme-download");
    button.disabled = true;
    setStatus("Making the meme…");
    clearError("meme-download-error");
    try {
      const blob = await makeMeme(this.requestBody(format));
      const name = this.source.name || this.studio.image?.name;
      downloadBlob(blob, downloadName(name, "meme", "meme", EXTENSIONS[format]));
      setStatus("Downloaded.");
    } catch (error) {
      setStatus("");
      showError(error, "meme-download-error");
    } finally {
      button.disabled = false;
    }
  }
}

function setupGallery(editor) {
  let timer = null;
  let controller = null;
  async function search() {
    controller?.abort();
    controller = new AbortController();
    const list = $("template-results");
    try {
      const query = $("template-search").value.trim();
      const found = await searchTemplates(query, controller.signal);
      list.replaceChildren(...found.map((t) => el("li", {}, el("button", {
        type: "button", title: t.name || t.id, onclick: () => editor.loadTemplate({ id: t.id, name: t.name || t.id }),
      }, el("img", { src: templateImageUrl(t.id, THUMB_WIDTH), alt: "", loading: "lazy" }),
      el("span", {}, t.name || t.id)))));
      const many = (n) => `${n} template${n === 1 ? "" : "s"}`;
      const said = query
        ? found.length ? `${many(found.length)} match “${query}”.` : `No template matches “${query}”.`
        : `All ${many(found.length)}.`;
      const own = el("button", { type: "button", id: "use-own-picture", onclick: () => $("file-input").click() },
        "Use your own picture");
      $("template-found").replaceChildren(el("span", {}, said), ...(found.length ? [] : [own]));
    } catch (error) {
      showError(error);
    }
  }
  $("template-search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, SEARCH_DEBOUNCE_MS);
  });
  return search;
}

/** The font selector: memegen's fonts (id and family); the default one, selected, sends none. */
async function loadFonts() {
  let fonts;
  try {
    fonts = await getFonts();
  } catch (error) {
    if (isMissingRoute(error)) return; // an older server: keep the page's own choices
    throw error;
  }
  FONT_VALUES.clear();
  for (const font of fonts) {
    for (const name of [font.id, font.alias, font.family]) {
      if (name) FONT_VALUES.set(name.toLowerCase(), font.default ? "" : font.id);
    }
  }
  $("caption-font").replaceChildren(...fonts.map((font) => el(
    "option", { value: font.default ? "" : font.id, selected: font.default },
    `${font.id} (${font.family}${font.present ? "" : ", not fetched"})`,
  )));
}

export function setupMeme(studio) {
  const editor = new MemeEditor(studio);
  const search = setupGallery(editor);
  loadFonts().catch(showError);
  let searched = false;
  const refresh = () => {
    if (!editor.visible) return;
    if (!searched) {
      searched = true;
      search();
    }
    if (editor.dirty && studio.image) {
      editor.dirty = false;
      editor.loadUpload(studio.image);
    }
  };
  document.addEventListener("image-changed", () => {
    editor.dirty = true;
    refresh();
  });
  document.addEventListener("tab-changed", (event) => {
    editor.visible = event.detail === "tab-meme";
    refresh();
  });
  $("add-caption").addEventListener("click", () => editor.addCaption());
  $("remove-caption").addEventListener("click", () => editor.removeSelected());
  $("show-regions").addEventListener("change", () => editor.drawRegions());
  for (const radio of document.querySelectorAll('input[name="erase"]')) {
    radio.addEventListener("change", () => editor.showErased().catch(showError));
  }
  $("meme-download").addEventListener("click", () => editor.download());
  for (const [id, key] of [["caption-font", "font"], ["caption-color", "color"], ["caption-style", "style"]]) {
    $(id).addEventListener("input", () => {
      if (!editor.selected) return;
      editor.selected[key] = $(id).value;
      if (id === "caption-color") $("caption-color-value").textContent = $(id).value;
      editor.selected.layout();
    });
  }
  window.glitchzapMeme = editor; // for tests and the curious: the boxes the download will send
}
