// Performance tab: GET /api/performance every few seconds, drawn as small SVG charts.
import { getPerformance } from "/static/api.js";
import { $, el, showError } from "/static/ui.js";

const POLL_MS = 2000;
const HISTORY = 60; // samples kept for the trend lines (two minutes at the poll rate)
const SVG = "http://www.w3.org/2000/svg";

const svg = (tag, attrs = {}, text) => {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
};

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${bytes < 0 ? "-" : ""}${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A line chart of `values` filling the chart's viewBox (min..max scaled, with an area). */
function drawLine(chart, values) {
  const [, , width, height] = chart.getAttribute("viewBox").split(" ").map(Number);
  chart.replaceChildren();
  if (values.length < 2) return;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  const points = values.map((v, i) => [
    (i / (values.length - 1)) * width,
    hi === lo ? height / 2 : height - 4 - ((v - lo) / span) * (height - 8),
  ]);
  const line = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  chart.append(
    svg("polygon", { class: "area", points: `0,${height} ${line} ${points.at(-1)[0].toFixed(1)},${height}` }),
    svg("polyline", { class: "line", points: line }),
  );
}

/** Horizontal bars: rows of [label, value, value2?] scaled to `max`. */
function drawBars(chart, rows, max, format) {
  const width = Math.round(chart.clientWidth) || 240; // one unit per CSS pixel: text stays small
  const rowHeight = 16;
  chart.setAttribute("viewBox", `0 0 ${width} ${Math.max(rowHeight, rows.length * rowHeight + 4)}`);
  chart.replaceChildren();
  const labelWidth = Math.min(220, width * 0.4);
  const barWidth = width - labelWidth - 56;
  rows.forEach(([label, value, second], i) => {
    const y = i * rowHeight + 2;
    chart.append(svg("text", { x: 0, y: y + 11 }, label.length > 30 ? `${label.slice(0, 29)}…` : label));
    if (second !== undefined) {
      chart.append(svg("rect", {
        class: "bar95", x: labelWidth, y: y + 2, height: 11, width: Math.max(1, (second / max) * barWidth),
      }));
    }
    chart.append(svg("rect", {
      class: "bar50", x: labelWidth, y: y + 2, height: 11, width: Math.max(1, (value / max) * barWidth),
    }));
    chart.append(svg("text", { x: width - 52, y: y + 11 }, format(second ?? value)));
  });
}

function renderModel(model) {
  if (!model) return "not reported";
  if (!model.model) return `none loaded (${model.device || "auto"})`;
  return `${model.model} on ${model.provider || "?"}`;
}

function renderOperations(operations) {
  const rows = Object.entries(operations || {}).sort((a, b) => b[1].count - a[1].count);
  const tbody = $("perf-ops").tBodies[0];
  tbody.replaceChildren(...rows.map(([name, op]) => {
    const failures = Object.values(op.failures || {}).reduce((a, b) => a + b, 0);
    return el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, String(op.count)),
      el("td", {}, String(failures)), el("td", {}, op.p50_ms.toFixed(1)),
      el("td", {}, op.p95_ms.toFixed(1)), el("td", {}, op.max_ms.toFixed(1)));
  }));
  const top = rows.slice(0, 8);
  const max = Math.max(1, ...top.map(([, op]) => op.p95_ms));
  drawBars($("chart-ops"), top.map(([name, op]) => [name, op.p50_ms, op.p95_ms]), max,
    (v) => `${v.toFixed(0)} ms`);
}

export function setupPerformance() {
  const rss = [];
  const cpu = [];
  let timer = null;
  let visible = false;

  async function poll() {
    try {
      const data = await getPerformance();
      const process = data.process || {};
      const system = data.system || {};
      rss.push(process.rss_bytes ?? 0);
      cpu.push(process.cpu_percent ?? 0);
      if (rss.length > HISTORY) rss.shift();
      if (cpu.length > HISTORY) cpu.shift();
      $("perf-rss").textContent = formatBytes(process.rss_bytes);
      const trend = process.rss_trend_bytes_per_minute;
      $("perf-rss-trend").textContent =
        trend == null ? "trend: collecting samples…" : `trend: ${formatBytes(trend)}/min`;
      drawLine($("chart-rss"), rss);
      $("perf-cpu").textContent = `${(process.cpu_percent ?? 0).toFixed(0)} %`;
      $("perf-system").textContent = `system ${(system.cpu_percent ?? 0).toFixed(0)} % of ${system.cpu_count ?? "?"} cores · memory ${(system.memory_percent ?? 0).toFixed(0)} % used`;
      drawLine($("chart-cpu"), cpu);
      const caches = (data.caches || []).filter((c) => c.hits + c.misses > 0);
      drawBars($("chart-caches"), caches.map((c) => [c.name, c.hit_rate * 100]), 100,
        (v) => `${v.toFixed(0)} %`);
      $("perf-caches").textContent = caches.length
        ? caches.map((c) => `${c.name}: ${c.hits}/${c.hits + c.misses}`).join(" · ")
        : "no cache used yet";
      $("perf-model").textContent = renderModel(data.model);
      const pool = data.cpu_pool;
      $("perf-pool").textContent = pool ? `CPU pool: ${pool.workers} workers, ${pool.pending} pending (max ${pool.max_pending})` : "";
      renderOperations(data.operations);
      document.body.dataset.perfSamples = String(rss.length);
    } catch (error) {
      showError(error);
      $("perf-live").checked = false;
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (visible && $("perf-live").checked) timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener("tab-changed", (event) => {
    visible = event.detail === "tab-perf";
    clearTimeout(timer);
    if (visible) poll();
  });
  $("perf-live").addEventListener("change", () => (visible && $("perf-live").checked ? poll() : schedule()));
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else schedule();
  });
}
