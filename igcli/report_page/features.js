"use strict";
// report.html's per-feature view, for table inputs (attributions.csv) and token models (tokens.csv),
// from data.features (igcli/report_page/features.py): the mean |A| of each feature over the run, in
// a table sorted by a click on a header, and the strongest features of each row. One of the files
// page.py joins into the page's one script, before report.js, which calls it with its helpers.
const igcliFeatures = (function () {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function signed(value, formatNumber) { return (value > 0 ? "+" : "") + formatNumber(value); }

  // the mean |A| table: one row per feature, sorted by the clicked header (numbers largest first)
  function meanTable(kit, f, what) {
    const el = kit.el, formatNumber = kit.formatNumber;
    const columns = [{ key: "name", label: what, text: true }, { key: "mean_abs", label: "mean |A|" }];
    if (f.mean) columns.push({ key: "mean", label: "mean A (signed)" });  // none with several targets
    if (f.kind === "tokens") columns.push({ key: "count", label: "occurrences" });
    const peak = Math.max.apply(null, f.mean_abs.filter(function (v) { return v === v; }).concat([0])) || 1;
    const table = el("table", { className: "list features", id: "feature-means" });
    const headRow = el("tr");
    const body = el("tbody");
    table.appendChild(el("thead", null, headRow));
    table.appendChild(body);
    let sortKey = "mean_abs", direction = -1;
    const headers = columns.map(function (column) {
      const th = el("th", { scope: "col", className: column.text ? "" : "num" }, el("button", { type: "button", title: "sort by " + column.label }, column.label));
      th.dataset.key = column.key;
      th.addEventListener("click", function () {
        direction = sortKey === column.key ? -direction : (column.text ? 1 : -1);
        sortKey = column.key;
        draw();
      });
      headRow.appendChild(th);
      return th;
    });
    function row(k) {
      const tr = el("tr");
      tr.dataset.feature = f.names[k];
      tr.appendChild(el("td", { className: "mono name", title: f.names[k] }, f.names[k]));
      for (const column of columns.slice(1)) {
        const value = f[column.key][k];
        const td = el("td", { className: "num" }, column.key === "mean" ? signed(value, formatNumber) : formatNumber(value));
        td.dataset.key = column.key;
        td.dataset.value = String(value);
        if (column.key === "mean_abs") {  // a bar to the scale of the largest
          const bar = td.insertBefore(el("span", { className: "bar" }), td.firstChild);
          bar.style.width = Math.max(1, Math.round(60 * value / peak)) + "px";
        }
        tr.appendChild(td);
      }
      return tr;
    }
    function draw() {
      const keys = sortKey === "name" ? null : f[sortKey];
      const order = f.names.map(function (_, k) { return k; }).sort(function (a, b) {
        const difference = keys ? keys[a] - keys[b] : collator.compare(f.names[a], f.names[b]);
        return direction * difference || a - b;
      });
      headers.forEach(function (th) {
        if (th.dataset.key === sortKey) th.setAttribute("aria-sort", direction > 0 ? "ascending" : "descending"); else th.removeAttribute("aria-sort");
      });
      body.textContent = "";
      const fragment = document.createDocumentFragment();
      for (const k of order) fragment.appendChild(row(k));
      body.appendChild(fragment);
    }
    draw();
    return el("div", { className: "list-box features-box" }, table);
  }

  // each row's strongest features: its id (and target), then name and signed value, the largest |A| first
  function topTable(kit, f) {
    const el = kit.el, formatNumber = kit.formatNumber, top = f.top;
    const several = Array.isArray(top.targets);
    const head = el("tr", null, [el("th", null, "id"), several ? el("th", null, "target") : null]);
    for (let j = 0; j < f.top_size; j++) head.appendChild(el("th", null, "#" + (j + 1)));
    const body = el("tbody");
    for (let r = 0; r < top.ids.length; r++) {
      const tr = el("tr", null, el("td", { className: "mono" }, top.ids[r]));
      tr.dataset.id = top.ids[r];
      if (several) tr.appendChild(el("td", null, (top.target_names && top.target_names[r]) || "class " + top.targets[r]));
      top.names[r].forEach(function (name, j) {
        const value = top.values[r][j];
        const where = top.positions ? " (position " + top.positions[r][j] + ")" : "";
        const td = el("td", { className: "top", title: name + where + ": " + value }, [
          el("span", { className: "mono" }, name), " ", el("span", { className: value > 0 ? "positive" : (value < 0 ? "negative" : "") }, signed(value, formatNumber))]);
        td.dataset.name = name;
        td.dataset.value = String(value);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    return el("div", { className: "list-box features-box" }, el("table", { className: "list features-top", id: "feature-top" }, [el("thead", null, head), body]));
  }

  return function (kit) {
    const f = kit.data.features, el = kit.el, grouped = kit.grouped;
    if (!f || !f.names.length) return;
    const tokens = f.kind === "tokens", what = tokens ? "token" : "feature";
    const node = kit.section(tokens ? "Tokens" : "Features", "features");
    const several = Array.isArray(f.top.targets), unit = tokens ? (several ? "text and target" : "text") : "row";
    const rows = grouped.format(f.rows) + (tokens ? " explained " + (several ? "(text, target) pairs" : "texts") + " (tokens.csv)" : " explained rows of attributions.csv");
    node.appendChild(el("p", { className: "note" }, tokens
      ? "Mean |A| of each token over its every occurrence in the " + rows + "; click a header to sort."
      : "Mean |A| of each column over the " + rows + " (an instance, or with several targets an instance and target); click a header to sort."));
    if (f.features > f.names.length) node.appendChild(el("p", { className: "note" }, "The " + grouped.format(f.names.length) + " of the largest mean |A| of " + grouped.format(f.features) + " " + what + "s."));
    const filter = el("input", { type: "search", id: "feature-filter", placeholder: "id contains\u2026", autocomplete: "off", spellcheck: false });
    const topBox = topTable(kit, f);
    filter.addEventListener("input", function () {
      const query = filter.value.trim().toLowerCase();
      for (const tr of topBox.querySelectorAll("tbody tr")) tr.hidden = query !== "" && tr.dataset.id.toLowerCase().indexOf(query) < 0;
    });
    const shown = f.top.ids.length < f.top_total ? "the first " + grouped.format(f.top.ids.length) + " of " + grouped.format(f.top_total) + " (the CSV holds every one)" : "all " + grouped.format(f.top_total);
    node.appendChild(el("div", { className: "columns features-columns" }, [
      el("div", null, [el("h3", null, "Mean |A| per " + what), meanTable(kit, f, what)]),
      el("div", null, [el("h3", null, "Strongest " + what + "s of each " + unit + ": " + shown),
        el("div", { className: "controls" }, el("label", null, ["id: ", filter])), topBox]),
    ]));
  };
})();
