"use strict";
// report.html's histograms: an SVG per column of data.histograms (binned by data.py). One of the
// files page.py joins into the page's one script, before report.js, which calls it with its helpers.
function igcliHistogram(h, kit) {
  const el = kit.el, svg = kit.svg, formatNumber = kit.formatNumber, grouped = kit.grouped;
  const width = 440, height = 200, left = 44, right = 14, top = 20, bottom = 34;
  const plotW = width - left - right, plotH = height - top - bottom;
  const figure = el("figure", { className: "histogram" });
  const title = h.column + (h.log ? " (log scale)" : "");
  figure.appendChild(el("h3", null, title));
  const chart = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img" });
  chart.appendChild(svg("title", {}, "histogram of " + h.column));
  figure.appendChild(chart);
  const n = h.counts.length;
  if (!n) {
    figure.appendChild(el("p", { className: "note" }, "no finite values"));
    return figure;
  }
  const edges = h.edges, peak = Math.max.apply(null, h.counts) || 1;
  const lo = h.log ? Math.log10(edges[0]) : edges[0], hi = h.log ? Math.log10(edges[n]) : edges[n];
  const x = function (value) { const v = h.log ? Math.log10(value) : value; return left + (hi > lo ? (v - lo) / (hi - lo) : 0.5) * plotW; };
  for (let b = 0; b < n; b++) {
    const x0 = x(edges[b]), x1 = x(edges[b + 1]), barH = h.counts[b] / peak * plotH;
    const bar = svg("rect", { class: "bar", x: x0 + 0.5, y: top + plotH - barH, width: Math.max(0.5, x1 - x0 - 1), height: barH });
    bar.appendChild(svg("title", {}, "[" + formatNumber(edges[b]) + ", " + formatNumber(edges[b + 1]) + (b === n - 1 ? "]" : ")") + ": " + grouped.format(h.counts[b])));
    chart.appendChild(bar);
  }
  chart.appendChild(svg("line", { class: "axis", x1: left, y1: top + plotH + 0.5, x2: left + plotW, y2: top + plotH + 0.5 }));
  chart.appendChild(svg("line", { class: "axis", x1: left - 0.5, y1: top, x2: left - 0.5, y2: top + plotH }));
  chart.appendChild(svg("text", { x: left - 4, y: top + 4, "text-anchor": "end" }, grouped.format(peak)));
  chart.appendChild(svg("text", { x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"));
  let ticks = [];
  if (!h.log) {  // round steps of 1, 2 or 5 times a power of ten, four or five of them
    const raw = (edges[n] - edges[0]) / 4, power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = power * (raw / power >= 5 ? 5 : raw / power >= 2 ? 2 : 1);
    for (let t = Math.ceil(edges[0] / step) * step; t <= edges[n] + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  } else {  // powers of ten, every one or every few when they are many
    const first = Math.ceil(lo - 1e-9), last = Math.floor(hi + 1e-9), every = Math.max(1, Math.ceil((last - first + 1) / 6));
    ticks = [];
    for (let p = first; p <= last; p += every) ticks.push(Math.pow(10, p));
    if (ticks.length < 2) ticks = [edges[0], edges[n]];
  }
  for (const tick of ticks) {
    const tx = x(tick);
    chart.appendChild(svg("line", { class: "axis", x1: tx, y1: top + plotH, x2: tx, y2: top + plotH + 4 }));
    chart.appendChild(svg("text", { x: tx, y: top + plotH + 15, "text-anchor": tx - left < 12 ? "start" : (left + plotW - tx < 12 ? "end" : "middle") }, String(Number(tick.toPrecision(6)))));
  }
  if (typeof h.threshold === "number" && h.threshold >= edges[0] && h.threshold <= edges[n]) {
    const tx = x(h.threshold);
    chart.appendChild(svg("line", { class: "limit", x1: tx, y1: top, x2: tx, y2: top + plotH }));
    chart.appendChild(svg("text", { class: "limit-label", x: tx, y: top - 5, "text-anchor": tx > width - 50 ? "end" : (tx < left + 40 ? "start" : "middle") }, "limit " + formatNumber(h.threshold)));
  }
  const facts = [grouped.format(h.count) + " values"];
  if (h.zeros) facts.push(grouped.format(h.zeros) + " exactly 0 (not drawn)");
  if (h.missing) facts.push(grouped.format(h.missing) + " empty");
  if (h.infinite) facts.push(grouped.format(h.infinite) + " infinite");
  if (typeof h.threshold === "number") facts.push("limit " + formatNumber(h.threshold));
  chart.appendChild(svg("text", { x: left, y: height - 4 }, facts.join(" \u00b7 ")));
  return figure;
}
