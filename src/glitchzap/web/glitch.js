// Glitch tab: controls generated from GET /api/effects, live previews, compare, seed, export.
import { cutOut, getEffects, getPresets, isAbort, renderImage } from "/static/api.js";
import {
  $, EXTENSIONS, afterPaint, clearError, copyText, downloadBlob, downloadName, dragPointer, el,
  paintBlob, setStatus, showError,
} from "/static/ui.js";

const BUSY_DEBOUNCE_MS = 40; // while a preview is in flight, wait for the slider to settle a bit
const PROGRESS_DELAY_MS = 300; // a preview faster than this never flashes the progress bar
const SLIDER_STEPS = 1000; // positions of every range input
const CURVED_SPAN = 100; // ranges this wide (px) get a square-law slider: fine control near 0
const TRACK_SHARE = 0.1; // a px slider spans this share of the picture's longer side
const START_AT = 0.3; // an effect switched on starts this far along its main slider
const ANIMATED_FORMATS = ["gif", "webp", "apng"]; // download formats that keep the frames
const ARROW_STEP = 10; // slider positions an arrow key moves (1 % of the track; Shift: 10 %)
const PAGE_STEP = 100;
const HISTORY_LIMIT = 100; // undo steps kept
const PROGRESS_TICK_MS = 100; // how often a long export's bar moves
const ESTIMATE_CAP = 0.95; // the bar never claims to be done before the file is
// "Glitch it": how many glitch-art effects a look combines, and where on each slider's
// (perceptual) track its settings are drawn: visible, never the whole range.
const LOOK_EFFECTS = [2, 3];
const LOOK_TRACK = [0.12, 0.42];
const LOOK_PX_SHARE = 0.06;
// Settings a look must draw below another of the same effect (the server refuses otherwise):
// effect -> [smaller, larger]. Scan lines thicker than their period would cover the picture.
const LOOK_BELOW = { scanlines: ["thickness", "period"] };

/** A small seeded generator (mulberry32): the same seed gives the same look anywhere. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One control per parameter: reads and writes real values, whatever the slider's curve. */
class ParamControl {
  constructor(effect, name, schema, onChange) {
    this.effect = effect;
    this.name = name;
    this.schema = schema;
    this.type = schema.type;
    this.default = schema.default ?? (this.type === "boolean" ? false : schema.minimum ?? 0);
    const id = `fx-${effect}-${name}`;
    if (Array.isArray(schema.enum)) {
      this.type = "enum";
      this.input = el("select", { id, "data-effect": effect, "data-param": name },
        ...schema.enum.map((option) => el("option", { value: option }, option)));
      this.node = el("div", { class: "param choice" },
        el("label", { for: id, title: schema.description || "" }, schema.title || name), this.input);
      this.input.addEventListener("change", (event) => onChange(event.timeStamp));
    } else if (this.type === "boolean") {
      this.input = el("input", { type: "checkbox", id, "data-effect": effect, "data-param": name });
      this.node = el("div", { class: "param checkbox" }, this.input,
        el("label", { for: id, title: schema.description || "" }, schema.title || name));
      this.input.addEventListener("change", (event) => onChange(event.timeStamp));
    } else {
      this.min = schema.minimum ?? schema.exclusiveMinimum ?? 0;
      this.max = schema.maximum ?? schema.exclusiveMaximum ?? 100;
      this.integer = this.type === "integer";
      const span = this.max - this.min;
      // The slider's track: the whole range until fitTo() gives a size in px the picture's.
      this.lo = this.min;
      this.hi = this.max;
      const signed = this.min < 0 && this.max > 0; // fine control must be near 0, not the end
      this.curve = !this.integer && !signed && span >= CURVED_SPAN && !/angle|degree/i.test(name) ? 2 : 1;
      this.step = this.integer ? 1 : span <= 1 ? 0.01 : span <= 20 ? 0.05 : 0.1;
      this.slider = el("input", {
        type: "range", id, min: 0, max: SLIDER_STEPS, step: 1,
        "data-effect": effect, "data-param": name,
        "aria-describedby": `${id}-help`,
      });
      this.number = el("input", {
        type: "number", min: this.min, max: this.max, step: this.step,
        "aria-label": `${effect} ${schema.title || name} value`,
      });
      const unit = / px|, px/.test(schema.description || "") ? "px" : /degree/i.test(schema.description || "") ? "°" : "";
      this.unit = unit;
      this.note = el("span", { id: `${id}-note`, class: "param-note", role: "status" });
      this.node = el("div", { class: "param" },
        el("label", { for: id }, el("span", {}, schema.title || name),
          (this.unitNode = el("span", { class: "unit" }, unit))),
        this.slider, this.number, this.note,
        el("span", { id: `${id}-help`, class: "visually-hidden" }, schema.description || ""));
      this.number.setAttribute("aria-describedby", `${id}-note`);
      this.slider.addEventListener("input", (event) => {
        this.number.value = String(this.fromPosition(Number(this.slider.value)));
        this.say("");
        this.describe();
        onChange(event.timeStamp);
      });
      this.slider.addEventListener("keydown", (event) => this.arrow(event, onChange));
      this.number.addEventListener("input", (event) => {
        const value = Number(this.number.value);
        if (this.number.value === "" || Number.isNaN(value)) return;
        const clamped = this.clamp(value);
        this.say(clamped === value ? "" : this.rangeText(clamped));
        this.slider.value = String(this.toPosition(clamped));
        this.describe();
        onChange(event.timeStamp);
      });
      // Leaving the box (or Enter) writes the clamped value into it; the note stays until
      // the next change, so the person sees why their number changed.
      this.number.addEventListener("change", () => {
        const value = Number(this.number.value);
        if (this.number.value === "" || Number.isNaN(value)) {
          this.number.value = String(this.fromPosition(Number(this.slider.value)));
          return;
        }
        this.number.value = String(this.clamp(value));
      });
    }
    this.reset();
  }

  clamp(value) {
    const rounded = this.integer ? Math.round(value) : value;
    return Math.min(this.max, Math.max(this.min, rounded));
  }

  /** Where the setting starts when its effect is switched on: START_AT along the slider's
   * track (of the picture's size for px), or that share of the way up for a signed one. */
  startValue() {
    if (this.lo < 0 && this.hi > 0) {
      return this.clamp(Number((Math.round((START_AT * this.hi) / this.step) * this.step).toFixed(2)));
    }
    return this.fromPosition(Math.round(START_AT * SLIDER_STEPS));
  }

  /** A setting drawn for "Glitch it" from `random`: see EffectControls.look. */
  tasteful(random, longSide) {
    const [low, high] = LOOK_TRACK;
    const t = low + (high - low) * random();
    const signed = this.min < this.default && this.default < this.max;
    if (this.unit === "px" || signed) {
      const sign = signed && random() < 0.5 ? -1 : 1;
      let reach = sign > 0 ? this.max - this.default : this.default - this.min;
      if (this.unit === "px") reach = Math.min(reach, LOOK_PX_SHARE * longSide);
      return this.clamp(Number((this.default + sign * reach * t).toFixed(2)));
    }
    return this.fromPosition(Math.round(t * SLIDER_STEPS));
  }

  rangeText(used) {
    const unit = this.unit === "px" ? " px" : this.unit;
    return `From ${this.min} to ${this.max}${unit}: using ${used}`;
  }

  say(text) {
    this.note.textContent = text;
    this.node.classList.toggle("clamped", Boolean(text));
  }

  /** Arrow keys move 1 % of the track (Shift or Page keys 10 %), and always at least one
   * step of the value, so every press changes what is shown. */
  arrow(event, onChange) {
    const keys = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 1, PageDown: -1 };
    const direction = keys[event.key];
    if (!direction) return;
    event.preventDefault();
    const page = event.shiftKey || event.key.startsWith("Page");
    const current = this.value;
    const position = Number(this.slider.value) + direction * (page ? PAGE_STEP : ARROW_STEP);
    let next = this.fromPosition(Math.min(SLIDER_STEPS, Math.max(0, position)));
    if (next === current) next = this.clamp(Number((current + direction * this.step).toFixed(2)));
    if (next === current) return;
    this.value = next;
    this.say("");
    onChange(event.timeStamp);
    this.slider.dispatchEvent(new Event("change", { bubbles: true })); // one undo step
  }

  /** Sizes in px: the slider spans TRACK_SHARE of the picture's longer side (at least twice
   * the default), so a position means the same look on a 512 px photo and a 4000 px one; the
   * number box still takes the whole range, and the recipe keeps full-size pixels. */
  fitTo(longSide) {
    this.longSide = longSide;
    if (this.unit !== "px" || !longSide) return;
    const reach = Math.max(TRACK_SHARE * longSide, 2 * Math.abs(this.default), 10 * this.step);
    const signed = this.min < 0 && this.max > 0;
    this.lo = signed ? Math.max(this.min, -reach) : this.min;
    this.hi = Math.min(this.max, signed ? reach : this.min + reach);
    this.curve = signed || this.integer || this.hi - this.lo < CURVED_SPAN ? 1 : 2;
    this.slider.value = String(this.toPosition(this.value));
    this.describe();
  }

  fromPosition(position) {
    const raw = this.lo + (this.hi - this.lo) * (position / SLIDER_STEPS) ** this.curve;
    const rounded = Math.round(raw / this.step) * this.step;
    return Number(Math.min(this.hi, Math.max(this.lo, rounded)).toFixed(this.integer ? 0 : 2));
  }

  toPosition(value) {
    const t = Math.min(1, Math.max(0, (value - this.lo) / (this.hi - this.lo || 1)));
    return Math.round(t ** (1 / this.curve) * SLIDER_STEPS);
  }

  get value() {
    if (this.type === "enum") return this.input.value;
    if (this.type === "boolean") return this.input.checked;
    const value = Number(this.number.value);
    return this.number.value === "" || Number.isNaN(value) ? this.default : this.clamp(value);
  }

  set value(value) {
    if (this.type === "enum") {
      this.input.value = String(value);
      return;
    }
    if (this.type === "boolean") {
      this.input.checked = Boolean(value);
      return;
    }
    this.number.value = String(value);
    this.slider.value = String(this.toPosition(value));
    this.describe();
  }

  /** The value for assistive tech, and a size in px also as a share of the picture. */
  describe() {
    if (!this.slider) return;
    const value = Number(this.number.value);
    const share = this.unit === "px" && this.longSide && value
      ? ` (${((100 * Math.abs(value)) / this.longSide).toFixed(1)} % of the picture)` : "";
    this.slider.setAttribute("aria-valuetext", `${this.number.value}${this.unit === "px" ? " px" : ""}${share}`);
    if (this.unitNode) this.unitNode.textContent = this.unit + share;
  }

  reset() {
    this.value = this.default;
    this.note && this.say("");
  }
}

/** Builds the effect controls; answers the current `effects` object of a recipe. */
class EffectControls {
  constructor(container, schemas, onChange) {
    this.controls = [];
    this.schemas = schemas;
    container.replaceChildren();
    const groups = {
      photo: el("details", { class: "effect-group", "data-category": "photo", open: "" },
        el("summary", {}, "Photo effects")),
      glitch: el("details", { class: "effect-group", "data-category": "glitch", open: "" },
        el("summary", {}, "Glitch art")),
    };
    this.switches = {}; // effect name -> its on/off checkbox
    for (const [name, effect] of Object.entries(schemas)) {
      const label = name.replaceAll("_", " ");
      const on = el("input", { type: "checkbox", class: "effect-on", "data-effect": name, "aria-label": `Use ${label}` });
      this.switches[name] = on;
      const fieldset = el("fieldset", { class: "effect", "data-effect": name },
        el("legend", {}, on, ` ${label} `, el("span", { class: "summary" }, effect.summary || "")));
      for (const [param, schema] of Object.entries(effect.schema.properties || {})) {
        const control = new ParamControl(name, param, schema, (at) => {
          this.syncSwitches();
          onChange(at);
        });
        this.controls.push(control);
        fieldset.append(control.node);
      }
      on.addEventListener("change", (event) => {
        this.toggle(name, on.checked);
        onChange(event.timeStamp);
      });
      (groups[effect.category] || groups.photo).append(fieldset);
    }
    for (const group of Object.values(groups)) {
      if (group.children.length > 1) container.append(group);
    }
  }

  /** An effect switched on starts at a visible, moderate setting (its main slider START_AT
   * along the track, or that share of the way from 0 for settings that go either way), not at
   * 0 where it shows nothing; switched off, all its settings go back to their defaults. */
  toggle(name, on) {
    const mine = this.controls.filter((c) => c.effect === name);
    if (!on) {
      for (const c of mine) c.reset();
      return;
    }
    const primary = mine.find((c) => c.name === this.schemas[name].primary) || mine[0];
    if (!primary || primary.value !== primary.default) return;
    if (primary.type === "boolean") primary.value = true;
    else if (primary.type !== "enum") primary.value = primary.startValue();
  }

  /** Each effect's switch shows whether any of its settings differ from the defaults. */
  syncSwitches() {
    const used = this.effects;
    for (const [name, on] of Object.entries(this.switches)) on.checked = name in used;
  }

  /** Show a preset's effects: every control back to its default, then the preset's values. */
  apply(effects) {
    for (const c of this.controls) c.reset();
    for (const c of this.controls) {
      const value = effects?.[c.effect]?.[c.name];
      if (value !== undefined) c.value = value;
    }
    this.syncSwitches();
  }

  /** Only the parameters that differ from their defaults, grouped by effect. */
  get effects() {
    const effects = {};
    for (const c of this.controls) {
      if (c.value === c.default) continue;
      effects[c.effect] = { ...effects[c.effect], [c.name]: c.value };
    }
    return effects;
  }

  reset() {
    for (const c of this.controls) c.reset();
    this.syncSwitches();
  }

  /** Size sliders in px follow the picture: see ParamControl.fitTo. */
  fitTo(longSide) {
    for (const c of this.controls) c.fitTo?.(longSide);
  }

  /** "Glitch it": a look drawn from `seed` (and the picture's longer side, px) alone — two or
   * three glitch-art effects, sometimes a touch of noise, each setting drawn from the lower
   * part of its range: sizes in px at most LOOK_PX_SHARE of the picture, signed settings
   * either way from their default. The same seed and size always give the same look. */
  look(seed, longSide = 1000) {
    const random = seededRandom(seed);
    const glitches = Object.keys(this.schemas).filter((n) => this.schemas[n].category === "glitch");
    const count = LOOK_EFFECTS[Math.floor(random() * LOOK_EFFECTS.length)];
    const chosen = [];
    while (chosen.length < Math.min(count, glitches.length)) {
      const name = glitches[Math.floor(random() * glitches.length)];
      if (!chosen.includes(name)) chosen.push(name);
    }
    if (this.schemas.noise && random() < 0.5) chosen.push("noise");
    const effects = {};
    for (const name of chosen) {
      const primary = this.schemas[name].primary;
      for (const c of this.controls.filter((control) => control.effect === name)) {
        let value;
        if (c.type === "enum") value = c.schema.enum[Math.floor(random() * c.schema.enum.length)];
        else if (c.type === "boolean") value = random() < 0.5;
        else if (c.name === primary || random() < 0.5) value = c.tasteful(random, longSide);
        else continue;
        if (value !== c.default) effects[name] = { ...effects[name], [c.name]: value };
      }
    }
    for (const [name, [smaller, larger]] of Object.entries(LOOK_BELOW)) {
      const params = effects[name];
      if (params?.[smaller] === undefined) continue;
      const limit = params[larger] ?? this.controls.find((c) => c.effect === name && c.name === larger)?.default;
      if (limit !== undefined && params[smaller] >= limit) params[smaller] = Math.round(limit * 50) / 100;
    }
    return effects;
  }

  /** The `ease` of a "grow then settle" loop: each effect in `effects` moves its main
   * (primary) parameter from its default to the chosen value and back over the frames. */
  growThenSettle(effects) {
    const ease = {};
    for (const [effect, params] of Object.entries(effects)) {
      const primary = this.schemas[effect]?.primary;
      const control = this.controls.find((c) => c.effect === effect && c.name === primary);
      if (!control || typeof params[primary] !== "number" || typeof control.default !== "number") continue;
      ease[`${effect}.${primary}`] = { from: control.default, to: params[primary], curve: "there-and-back" };
    }
    return ease;
  }
}

/** The look "Glitch it" gives `seed`, from the effects' schemas alone (GET /api/effects). */
export function lookFromSeed(schemas, seed, longSide) {
  return new EffectControls(el("div"), schemas, () => {}).look(seed, longSide);
}

/** A whole number from a number input, kept within its min and max. */
function whole(input, fallback) {
  const value = Math.round(Number(input.value));
  if (input.value === "" || Number.isNaN(value)) return fallback;
  return Math.min(Number(input.max), Math.max(Number(input.min), value));
}

function checked(name) {
  return document.querySelector(`input[name="${name}"]:checked`).value;
}

export async function setupGlitch(studio) {
  const preview = $("preview");
  const before = $("before");
  const box = $("preview-box");
  let controls = null;
  let controller = null; // the request in flight, aborted by the next one
  let timer = null;
  let sequence = 0;
  let lastChangeAt = performance.now();
  const beforeCache = new Map(); // "<image_id>/<quality>" -> Blob of the untouched preview
  const masksSeen = new Set(); // images whose subject mask the server has already made

  let userAnimate = false; // the Animate switch as the user left it (an animated upload forces it)
  let formatChosen = false; // whether the user picked the download format themselves

  /** Whether previews and downloads are animations: an animated upload, or Animate on. */
  const animating = () => Boolean(studio.image?.animated) || userAnimate;

  /** The recipe's `animation` block, or null: a still's frame count and speed, and the eased
   * parameters (an animated upload keeps its own frames and timing). */
  function animation(effects) {
    if (!animating()) return null;
    const options = {};
    if (!studio.image?.animated) {
      options.frames = whole($("anim-frames"), 12);
      options.fps = whole($("anim-fps"), 12);
    }
    const ease = $("anim-ease").checked && controls ? controls.growThenSettle(effects) : {};
    if (Object.keys(ease).length) options.ease = ease;
    return options;
  }

  function recipe() {
    const effects = controls ? controls.effects : {};
    const out = { effects, target: checked("target"), seed: Number($("seed").value) || 0 };
    // The subject mask's quality mode: the same for the preview and the download.
    if (out.target !== "all") out.background = { quality: $("mask-quality").value };
    const options = animation(effects);
    if (options) out.animation = options;
    return out;
  }

  /** Preview quality: the chosen one, or fast for animations (every frame is rendered). */
  const previewQuality = () => (animating() ? "fast" : checked("quality"));

  /** Frames the preview shows (1 for a still). */
  const frameCount = () =>
    studio.image?.animated ? studio.image.frames : animating() ? whole($("anim-frames"), 12) : 1;

  /** The animation controls and the download format follow the image and the Animate switch. */
  function syncAnimation() {
    const upload = Boolean(studio.image?.animated);
    const on = animating();
    $("animate").checked = on;
    $("animate").disabled = upload;
    $("anim-frames").disabled = !on || upload;
    $("anim-fps").disabled = !on || upload;
    $("anim-ease").disabled = !on;
    const select = $("download-format");
    select.querySelector('option[value="jpeg"]').disabled = on; // JPEG cannot animate
    if (on && (!formatChosen || !ANIMATED_FORMATS.includes(select.value))) select.value = "gif";
    if (!on && !formatChosen) select.value = "png";
  }

  function schedule(changeAt = performance.now()) {
    lastChangeAt = changeAt;
    if (!studio.image) return;
    clearTimeout(timer);
    timer = setTimeout(sendPreview, controller ? BUSY_DEBOUNCE_MS : 0);
  }

  function showProgress(text) {
    $("progress-text").textContent = text;
    $("progress").hidden = false;
    $("stage").setAttribute("aria-busy", "true");
  }

  function hideProgress() {
    $("progress").hidden = true;
    $("stage").setAttribute("aria-busy", "false");
    const bar = $("progress").querySelector(".bar");
    bar.classList.remove("determinate");
    bar.removeAttribute("aria-valuenow");
    bar.setAttribute("aria-valuetext", "working");
  }

  /** The last preview's render time per pixel: the base of a full-size export's estimate. */
  let previewCost = null;

  /** Seconds a full-quality render of the current image will take, from the last preview
   * (same recipe, fewer pixels), or null before any preview. */
  function exportEstimate() {
    if (!previewCost || !studio.image) return null;
    return (previewCost * studio.image.width * studio.image.height) / 1000;
  }

  /** A bar that fills over the estimate (never past ESTIMATE_CAP); returns its stopper. */
  function progressOver(seconds) {
    const bar = $("progress").querySelector(".bar");
    bar.classList.add("determinate");
    const started = performance.now();
    const tick = () => {
      const done = Math.min(ESTIMATE_CAP, (performance.now() - started) / 1000 / seconds);
      bar.style.setProperty("--done", `${(done * 100).toFixed(1)}%`);
      bar.setAttribute("aria-valuenow", String(Math.round(done * 100)));
      bar.setAttribute("aria-valuetext", `about ${Math.round(done * 100)} %`);
    };
    tick();
    const timer = setInterval(tick, PROGRESS_TICK_MS);
    return () => clearInterval(timer);
  }

  async function sendPreview() {
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    const id = ++sequence;
    const changeAt = lastChangeAt;
    const image = studio.image;
    const body = { image_id: image.image_id, recipe: recipe(), quality: previewQuality() };
    const maskKey = `${image.image_id}:${$("mask-quality").value}`;
    const needsMask = body.recipe.target !== "all" && !masksSeen.has(maskKey);
    const started = performance.now();
    const progress = needsMask
      ? (showProgress("Finding the subject… the first time also loads the background model"), null)
      : setTimeout(() => showProgress("Rendering…"), PROGRESS_DELAY_MS);
    try {
      const blob = await renderImage(body, mine.signal);
      if (id !== sequence) return;
      if (body.recipe.target !== "all") masksSeen.add(maskKey);
      $("stage-empty").hidden = true;
      box.hidden = false;
      const paintedAt = await paintBlob(preview, blob);
      if (id !== sequence) return;
      box.style.setProperty("--aspect", String(preview.naturalWidth / preview.naturalHeight));
      clearError();
      $("download").disabled = false;
      const ms = Math.round(paintedAt - started);
      if (!needsMask) previewCost = (paintedAt - started) / (preview.naturalWidth * preview.naturalHeight);
      const frames = body.recipe.animation ? ` · ${frameCount()} frames` : "";
      $("preview-meta").textContent =
        `${body.quality} preview · ${preview.naturalWidth} × ${preview.naturalHeight} px${frames} · ${ms} ms`;
      document.dispatchEvent(new CustomEvent("preview-painted", {
        detail: { changeAt, paintedAt, latencyMs: paintedAt - changeAt, recipe: body.recipe },
      }));
    } catch (error) {
      if (id === sequence && !isAbort(error)) showError(error);
    } finally {
      clearTimeout(progress);
      if (id === sequence) hideProgress();
      if (controller === mine) controller = null;
    }
  }

  async function refreshBefore() {
    if (!studio.image || !$("compare").checked) return;
    const quality = previewQuality();
    const key = `${studio.image.image_id}/${quality}`;
    try {
      if (!beforeCache.has(key)) {
        const body = { image_id: studio.image.image_id, recipe: { effects: {} }, quality };
        beforeCache.set(key, await renderImage(body));
      }
      await paintBlob(before, beforeCache.get(key));
    } catch (error) {
      showError(error);
    }
  }

  /** Before/after: the original left of a handle dragged on the picture itself. */
  let split = 50;
  function setSplit(percent) {
    split = Math.min(100, Math.max(0, Math.round(percent)));
    box.style.setProperty("--split", `${split}%`);
    const handle = $("split-handle");
    handle.setAttribute("aria-valuenow", String(split));
    handle.setAttribute("aria-valuetext", `${split} % before`);
  }

  function updateCompare() {
    const on = $("compare").checked;
    before.hidden = !on;
    $("split-handle").hidden = !on;
    for (const tag of box.querySelectorAll(".split-tag")) tag.hidden = !on;
    box.classList.toggle("compare", on);
    setSplit(split);
    if (on) refreshBefore();
  }

  function setupSplit() {
    const handle = $("split-handle");
    const at = (event) => {
      const rect = box.getBoundingClientRect();
      setSplit(((event.clientX - rect.left) / rect.width) * 100);
    };
    box.addEventListener("pointerdown", (event) => {
      if (!$("compare").checked) return;
      event.preventDefault();
      handle.focus({ preventScroll: true });
      at(event);
      dragPointer(box, event, at);
    });
    handle.addEventListener("keydown", (event) => {
      const step = event.shiftKey ? 10 : 2;
      const moves = { ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step };
      if (event.key in moves) setSplit(split + moves[event.key]);
      else if (event.key === "Home") setSplit(0);
      else if (event.key === "End") setSplit(100);
      else return;
      event.preventDefault();
    });
  }

  /** The full-quality file: progress shows at once, with an estimate from the last preview
   * and a bar that fills over it, until the file is saved. */
  async function download(event) {
    const format = $("download-format").value;
    const body = { image_id: studio.image.image_id, recipe: recipe(), quality: "full", format };
    const button = $("download");
    button.disabled = true;
    const frames = body.recipe.animation ? `${frameCount()} frames ` : "";
    const estimate = exportEstimate();
    const about = estimate === null ? "" : ` about ${estimate < 10 ? estimate.toFixed(1) : Math.round(estimate)} s`;
    const text = `Rendering ${frames}at full quality (${studio.image.width} × ${studio.image.height} px)…${about}`;
    setStatus(text);
    showProgress(text);
    const stop = estimate === null ? () => {} : progressOver(Math.max(estimate, 0.1));
    afterPaint().then((shownAt) => document.dispatchEvent(new CustomEvent("export-progress", {
      detail: { clickAt: event?.timeStamp ?? shownAt, shownAt, estimate },
    })));
    const started = performance.now();
    clearError("download-error");
    try {
      const blob = await renderImage(body);
      downloadBlob(blob, downloadName(studio.image.name, "image", "glitch", EXTENSIONS[format]));
      setStatus(`Downloaded (${((performance.now() - started) / 1000).toFixed(1)} s).`);
    } catch (error) {
      setStatus("");
      showError(error, "download-error");
    } finally {
      stop();
      hideProgress();
      button.disabled = false;
    }
  }

  /** The cut-out request: the subject alone, found in the chosen mode, on the chosen backdrop. */
  function cutOutBody() {
    const body = {
      image_id: studio.image.image_id,
      quality: $("mask-quality").value,
      crop: $("cutout-crop").checked,
      shadow: $("cutout-shadow").checked,
      format: "png",
    };
    const backdrop = checked("cutout-backdrop");
    if (backdrop === "color") {
      const hex = $("cutout-color").value;
      body.background = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    } else if (backdrop === "blur") {
      // A strong blur whatever the photo's size: 1/60 of its longer side.
      body.bg_blur = Math.max(4, Math.round(Math.max(studio.image.width, studio.image.height) / 60));
    }
    return body;
  }

  async function downloadCutOut() {
    const button = $("cutout-download");
    button.disabled = true;
    const first = !masksSeen.has(`${studio.image.image_id}:${$("mask-quality").value}`);
    setStatus(first ? "Finding the subject… the first time also loads the model" : "Cutting out…");
    clearError("cutout-error");
    try {
      const body = cutOutBody();
      const blob = await cutOut(body);
      masksSeen.add(`${body.image_id}:${body.quality}`);
      downloadBlob(blob, downloadName(studio.image.name, "image", "cutout", "png"));
      setStatus("Downloaded the cut-out.");
    } catch (error) {
      setStatus("");
      showError(error, "cutout-error");
    } finally {
      button.disabled = false;
    }
  }

  /** The mode's name beside the cut-out button, and the colour picker only for a colour. */
  function syncCutOut() {
    const select = $("mask-quality");
    $("cutout-mode").textContent = select.options[select.selectedIndex].text.split(" (")[0];
    $("cutout-color").disabled = checked("cutout-backdrop") !== "color";
    $("cutout-download").disabled = !studio.image;
  }

  // Undo / redo of the settings: one step per committed change (a slider released or moved
  // by a key, a value typed, a choice made, a preset, "Glitch it", a reset, a re-roll).
  const history = { past: [], future: [], current: null };
  const snapshot = () => JSON.stringify({
    effects: controls ? controls.effects : {},
    target: checked("target"),
    seed: $("seed").value,
    mask: $("mask-quality").value,
  });

  function remember() {
    const now = snapshot();
    if (now === history.current) return;
    if (history.current !== null) history.past.push(history.current);
    if (history.past.length > HISTORY_LIMIT) history.past.shift();
    history.current = now;
    history.future = [];
    syncHistory();
  }

  function restore(state) {
    const settings = JSON.parse(state);
    controls.apply(settings.effects);
    document.querySelector(`input[name="target"][value="${settings.target}"]`).checked = true;
    $("seed").value = settings.seed;
    $("mask-quality").value = settings.mask;
    $("preset").value = "";
    history.current = state;
    syncHistory();
    syncCutOut();
    schedule();
  }

  function undo() {
    if (!history.past.length) return;
    history.future.push(history.current);
    restore(history.past.pop());
  }

  function redo() {
    if (!history.future.length) return;
    history.past.push(history.current);
    restore(history.future.pop());
  }

  function syncHistory() {
    $("undo").disabled = !history.past.length;
    $("redo").disabled = !history.future.length;
  }

  /** "Glitch it": a new seed, and the look that seed gives (undo brings the last one back). */
  function glitchIt(event) {
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    $("seed").value = String(seed);
    controls.apply(controls.look(seed, Math.max(studio.image?.width || 0, studio.image?.height || 0) || 1000));
    $("preset").value = "";
    remember();
    schedule(event.timeStamp);
  }

  async function copyRecipe() {
    const text = JSON.stringify({ ...recipe(), output: { format: $("download-format").value } }, null, 2);
    await copyText(text);
    setStatus("Recipe copied to the clipboard.");
  }

  $("animate").addEventListener("change", (event) => {
    userAnimate = $("animate").checked;
    syncAnimation();
    schedule(event.timeStamp);
    refreshBefore();
  });
  for (const input of [$("anim-frames"), $("anim-fps")]) {
    input.addEventListener("input", (event) => schedule(event.timeStamp));
  }
  $("anim-ease").addEventListener("change", (event) => schedule(event.timeStamp));
  $("download-format").addEventListener("change", () => {
    formatChosen = true;
  });
  for (const input of document.querySelectorAll('input[name="target"], input[name="quality"]')) {
    input.addEventListener("change", (event) => {
      schedule(event.timeStamp);
      refreshBefore();
    });
  }
  $("mask-quality").addEventListener("change", (event) => {
    syncCutOut();
    if (checked("target") !== "all") schedule(event.timeStamp);
  });
  for (const input of document.querySelectorAll('input[name="cutout-backdrop"]')) {
    input.addEventListener("change", syncCutOut);
  }
  $("cutout-download").addEventListener("click", downloadCutOut);
  $("seed").addEventListener("input", (event) => schedule(event.timeStamp));
  $("reroll").addEventListener("click", (event) => {
    $("seed").value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
    remember();
    schedule(event.timeStamp);
  });
  $("reset-effects").addEventListener("click", (event) => {
    controls?.reset();
    remember();
    schedule(event.timeStamp);
  });
  $("compare").addEventListener("change", updateCompare);
  setupSplit();
  const syncZoom = () => {
    $("stage").dataset.zoom = checked("zoom");
  };
  for (const input of document.querySelectorAll('input[name="zoom"]')) {
    input.addEventListener("change", syncZoom);
  }
  syncZoom();
  $("download").addEventListener("click", download);
  $("copy-recipe").addEventListener("click", () => copyRecipe().catch(showError));
  document.addEventListener("image-changed", () => {
    controls?.fitTo(Math.max(studio.image.width, studio.image.height));
    syncAnimation();
    syncCutOut();
    beforeCache.clear();
    schedule();
    refreshBefore();
  });

  syncCutOut();
  $("glitch-it").addEventListener("click", glitchIt);
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("glitch-controls").addEventListener("change", () => remember());
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || $("panel-glitch").hidden) return;
    if (event.target.matches?.("textarea, input[type=text], input[type=url], input[type=search]")) return;
    const key = event.key.toLowerCase();
    if (key === "z" && !event.shiftKey) undo();
    else if (key === "y" || (key === "z" && event.shiftKey)) redo();
    else return;
    event.preventDefault();
  });

  controls = new EffectControls($("effect-controls"), await getEffects(), schedule);
  if (studio.image) controls.fitTo(Math.max(studio.image.width, studio.image.height));
  const presets = await getPresets();
  for (const name of Object.keys(presets)) $("preset").append(el("option", { value: name }, name));
  $("preset").addEventListener("change", (event) => {
    const look = presets[$("preset").value];
    if (!look) return;
    controls.apply(look.effects);
    if (look.seed !== undefined && look.seed !== null) $("seed").value = String(look.seed);
    remember();
    schedule(event.timeStamp);
  });
  remember(); // the starting point undo goes back to
  document.body.dataset.effectsReady = "true";
}
