"use strict";
// compare.html's main script: parses the data, builds the kit (igcliKit, and the rows' columns as
// report.html's columns.js decodes them) and draws the sections in order.
(function () {
  const started = performance.now();
  const timings = { parse_ms: null, first_render_ms: null };
  window.__igcliCompare = { timings: timings };
  const data = JSON.parse(document.getElementById("igcli-data").textContent);
  const kit = igcliKit(data);
  window.addEventListener("error", function (event) { kit.problem("This page failed to draw: " + event.message); });
  kit.columns = igcliColumns.decode(data, kit.formatNumber);
  kit.ordering = igcliColumns.ordering(data.rows);
  const byName = {};
  for (const column of kit.columns) if (!(column.name in byName)) byName[column.name] = column;
  kit.textAt = function (name, i) { const column = byName[name]; return column ? column.text(i) : ""; };
  kit.numberAt = function (name, i) { const column = byName[name]; return column && column.numbers ? column.numbers[i] : NaN; };
  // a compared row by its id and target position, among the rows the page holds (-1: not held)
  const where = new Map();
  for (let i = data.rows - 1; i >= 0; i--) where.set(kit.textAt("id", i) + "\u0000" + kit.textAt("position", i), i);
  kit.rowIndex = function (ident, position) { const i = where.get(String(ident) + "\u0000" + String(position)); return i === undefined ? -1 : i; };
  timings.parse_ms = performance.now() - started;

  const record = kit.record, a = record.run_a || {}, b = record.run_b || {};
  document.title = "igcli compare: " + kit.plain(a.path) + " vs " + kit.plain(b.path);
  kit.append(document.getElementById("subtitle"), [
    "A ", kit.el("span", { className: "mono run-a" }, kit.plain(a.path)), " vs B ", kit.el("span", { className: "mono run-b" }, kit.plain(b.path)),
    " \u00b7 " + data.diff_name + " \u00b7 written " + data.generated,
  ]);
  for (const note of data.notes) kit.problem(note);

  igcliVerdict(kit);
  igcliRuns(kit);
  igcliPairs(kit);
  igcliGlobal(kit);
  igcliColumnsView(kit);
  igcliDistributions(kit);
  igcliUnmatched(kit);
  igcliTable(kit);

  timings.first_render_ms = performance.now() - started;
  document.documentElement.dataset.ready = String(Math.max(1, Math.round(timings.first_render_ms)));
})();
