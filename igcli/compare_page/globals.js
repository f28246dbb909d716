"use strict";
// compare.html's global figures: the nDCG of the global importance (pooled and per class), the
// mean |A| of every column in both runs (table runs), and the distributions of the per-instance
// figures. One of the files page.py joins into the page's one script, before compare.js.
function igcliGlobal(kit) {
  const el = kit.el, entries = kit.record.global || [], t = kit.thresholds;
  if (!entries.length) return;
  const node = kit.section("Global importance", "global");
  node.appendChild(el("p", { className: "note" }, "nDCG of the ranking of the features by mean |A| in B against A's (1: the same order). A class is gated when it has " +
    kit.formatNumber(t.min_class_instances) + " instances or more; all classes pooled always are. Gate: nDCG \u2265 " + kit.formatNumber(t.min_ndcg) + "."));
  const table = el("table", { className: "list ndcg", id: "ndcg" });
  table.appendChild(el("thead", null, el("tr", null, [el("th", null, "class"), el("th", { className: "num" }, "instances"), el("th", { className: "num" }, "nDCG"), el("th", null, "gate")])));
  const body = el("tbody");
  for (const entry of entries) {
    const name = entry.class === null ? "all classes" : (entry.class_name ? entry.class_name + " (" + entry.class + ")" : "class " + entry.class);
    const gate = entry.gated ? (entry.below ? "below " + kit.formatNumber(t.min_ndcg) : "gated, passed") : "not gated (too few instances)";
    const row = el("tr", { className: (entry.below ? "below " : "") + (entry.gated ? "gated" : "ungated") }, [
      el("td", null, name), el("td", { className: "num" }, kit.grouped.format(entry.instances || 0)),
      el("td", { className: "num" }, kit.formatNumber(entry.ndcg)), el("td", null, gate),
    ]);
    row.dataset.class = entry.class === null ? "all" : String(entry.class);
    body.appendChild(row);
  }
  table.appendChild(body);
  node.appendChild(el("div", { className: "list-box" }, table));
}

// table runs: every column's mean |A| in A and in B and the change, sortable by each
function igcliColumnsView(kit) {
  const el = kit.el, columns = kit.record.columns;
  if (!Array.isArray(columns) || !columns.length) return;
  const node = kit.section("Columns (" + columns.length + ")", "columns");
  node.appendChild(el("p", { className: "note" }, "Mean |A| of each input column over the compared instances, in A and in B; change = B \u2212 A. Click a heading to sort."));
  const fields = [["name", "column", false], ["mean_abs_a", "mean |A| in A", true], ["mean_abs_b", "mean |A| in B", true], ["change", "change", true]];
  const peak = Math.max.apply(null, columns.map(function (c) { return Math.max(Math.abs(c.mean_abs_a || 0), Math.abs(c.mean_abs_b || 0)); })) || 1;
  const table = el("table", { className: "list features", id: "column-table" });
  const head = el("tr");
  const body = el("tbody");
  let order = columns.map(function (_, i) { return i; }), sorted = null, direction = 1;
  const headers = fields.map(function (field) {
    const th = el("th", { scope: "col", className: field[2] ? "num" : "" }, el("button", { type: "button" }, field[1]));
    th.dataset.field = field[0];
    th.addEventListener("click", function () { sortBy(field[0]); });
    head.appendChild(th);
    return th;
  });
  function sortBy(name) {
    direction = sorted === name ? -direction : (name === "name" ? 1 : -1);
    sorted = name;
    const collator = new Intl.Collator(undefined, { numeric: true });
    const key = function (i) { const v = columns[i][name]; return name === "change" ? Math.abs(v) : v; };
    order = columns.map(function (_, i) { return i; }).sort(function (x, y) {
      const a = key(x), b = key(y);
      const c = name === "name" ? collator.compare(a, b) : (a === b ? 0 : (a === null ? 1 : b === null ? -1 : a - b));
      return direction * c || x - y;
    });
    headers.forEach(function (th) { if (th.dataset.field === name) th.setAttribute("aria-sort", direction > 0 ? "ascending" : "descending"); else th.removeAttribute("aria-sort"); });
    draw();
  }
  function cell(value, bar) {
    const td = el("td", { className: "num" });
    td.dataset.value = String(value);
    if (bar) td.appendChild(el("span", { className: "bar" })).style.width = Math.round(60 * Math.abs(value || 0) / peak) + "px";
    td.appendChild(document.createTextNode(kit.formatNumber(value)));
    return td;
  }
  function draw() {
    body.textContent = "";
    for (const i of order) {
      const c = columns[i];
      const change = el("td", { className: "num " + (c.change > 0 ? "positive" : c.change < 0 ? "negative" : "") }, (c.change > 0 ? "+" : "") + kit.formatNumber(c.change));
      change.dataset.value = String(c.change);
      body.appendChild(el("tr", null, [el("td", { className: "mono" }, kit.plain(c.name)), cell(c.mean_abs_a, true), cell(c.mean_abs_b, true), change]));
    }
  }
  table.appendChild(el("thead", null, head));
  table.appendChild(body);
  draw();
  node.appendChild(el("div", { className: "list-box features-box" }, table));
}

// the per-instance figures: compare.json's percentiles as a table, and a histogram of each over
// every row of compare.csv (the gates drawn as limits)
function igcliDistributions(kit) {
  const el = kit.el, distributions = kit.record.distributions || {}, names = Object.keys(distributions);
  if (!names.length && !kit.data.histograms.length) return;
  const node = kit.section("Distributions", "distributions");
  const stats = ["count", "min", "p5", "p25", "median", "mean", "max"];
  const table = el("table", { className: "list percentiles", id: "percentiles" });
  table.appendChild(el("thead", null, el("tr", null, [el("th", null, "figure")].concat(stats.map(function (s) { return el("th", { className: "num" }, s); })))));
  const body = el("tbody");
  for (const name of names) {
    const d = distributions[name] || {};
    body.appendChild(el("tr", null, [el("td", { className: "mono" }, name)].concat(stats.map(function (s) { return el("td", { className: "num" }, kit.formatNumber(d[s])); }))));
  }
  table.appendChild(body);
  node.appendChild(el("div", { className: "list-box" }, table));
  const box = el("div", { className: "histograms" });
  for (const h of kit.data.histograms) box.appendChild(igcliHistogram(h, kit));
  node.appendChild(box);
}
