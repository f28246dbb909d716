"use strict";
(function () {
  const started = performance.now();
  const timings = { parse_ms: null, first_render_ms: null, first_paint_ms: null, last_sort_ms: null, last_filter_ms: null };
  window.__igcliReport = { timings: timings };
  const problems = document.getElementById("problems");
  function problem(message) {
    problems.appendChild(el("p", { className: "problem" }, message));
  }
  window.addEventListener("error", function (event) { problem("This page failed to draw: " + event.message); });

  // ---- DOM helpers: text goes in with textContent, never as markup ----
  const dom = igcliDom();  // dom.js
  const el = dom.el, append = dom.append, svg = dom.svg;
  function section(title, id) {
    const node = el("section", { id: id });
    node.appendChild(el("h2", null, title));
    document.getElementById("main").appendChild(node);
    return node;
  }
  // a URL relative to this page for a file igcli wrote under folder/, one encoded segment each
  function fileUrl(folder, ident, suffix) {
    return folder + "/" + String(ident).split("/").map(encodeURIComponent).join("/") + suffix;
  }
  const formatNumber = igcliFormatNumber, plain = igcliPlain;  // dom.js
  const grouped = new Intl.NumberFormat("en-US");

  // ---- the data ----
  const data = JSON.parse(document.getElementById("igcli-data").textContent);
  const run = data.run || {};
  const rows = data.rows;
  const columns = igcliColumns.decode(data, formatNumber);
  const byName = {};
  for (const column of columns) if (!(column.name in byName)) byName[column.name] = column;
  const idColumn = byName.id, statusColumn = byName.status;
  const hasHeatmap = Array.isArray(data.heatmap) ? function (i) { return data.heatmap[i] === 1; } : function () { return false; };
  function fileKey(i) { return Array.isArray(data.files) ? data.files[i] : idOf(i); }  // <id>, or <id>/<target> with several targets
  const hasTokens = Array.isArray(data.tokens) ? function (i) { return data.tokens[i] === 1; } : function () { return false; };
  function idOf(i) { return idColumn ? idColumn.text(i) : String(i + 1); }
  function failed(i) { return statusColumn ? statusColumn.text(i) === "error" : false; }
  function numberAt(name, i) { const column = byName[name]; return column && column.numbers ? column.numbers[i] : NaN; }
  function textAt(name, i) { const column = byName[name]; return column ? column.text(i) : ""; }
  timings.parse_ms = performance.now() - started;

  // ---- out of range: relative_delta over --max-delta, error_estimate over --max-error (each 0.05
  // when not given, data.limits), and incomplete instances; marked "over" in cards, tiles and cells
  const limits = data.limits || {};
  const LIMITED = ["relative_delta", "error_estimate", "incomplete"];
  function limitOf(name) { return limits[name] && typeof limits[name].value === "number" ? limits[name].value : null; }
  function limitText(name) {
    const limit = limits[name];
    return limit.option ? limit.option + " " + formatNumber(limit.value) : formatNumber(limit.value);
  }
  function overLimit(name, i) {
    if (name === "incomplete") return numberAt(name, i) === 1;
    const limit = limitOf(name);
    return limit !== null && numberAt(name, i) > limit;  // NaN never, Infinity always
  }
  function overCount(name) {
    let count = 0;
    if (byName[name] && byName[name].numbers) for (let i = 0; i < rows; i++) if (overLimit(name, i)) count++;
    return count;
  }
  // what is out of range in row i, as short phrases ("error_estimate 0.08 > 0.05")
  function overFlags(i, except) {
    const flags = [];
    for (const name of LIMITED) {
      if (name === except || failed(i) || !overLimit(name, i)) continue;
      flags.push(name === "incomplete" ? "incomplete" : name + " " + formatNumber(numberAt(name, i)) + " > " + formatNumber(limitOf(name)));
    }
    return flags;
  }
  const ordering = igcliColumns.ordering(rows), sortedBy = ordering.sortedBy, sortKeys = ordering.sortKeys;
  // what the other files of the page's script are given: these helpers, the data and its rows
  const kit = {
    data: data, run: run, rows: rows, el: el, svg: svg, section: section, formatNumber: formatNumber, grouped: grouped, plain: plain, fileUrl: fileUrl,
    byName: byName, idOf: idOf, failed: failed, numberAt: numberAt, textAt: textAt, hasHeatmap: hasHeatmap, fileKey: fileKey, sortedBy: sortedBy,
    limits: limits, LIMITED: LIMITED, limitOf: limitOf, limitText: limitText, overLimit: overLimit, overCount: overCount, overFlags: overFlags,
  };

  // ---- header and notes ----
  document.title = "igcli report: " + data.out_name;
  const subtitle = document.getElementById("subtitle");
  append(subtitle, [data.out_name, " \u00b7 written " + data.generated]);
  if (run.model && run.model.path) append(subtitle, [" \u00b7 model ", el("span", { className: "mono" }, String(run.model.path))]);
  for (const note of data.notes) problem(note);

  // ---- the run: counts, settings, timings, metrics, --steps auto, completeness gaps, details ----
  igcliOverview(kit);

  // ---- failures and skipped files ----
  igcliFailures(kit);

  // ---- histograms ----
  if (data.histograms.length) {
    const node = section("Distributions", "distributions");
    const box = el("div", { className: "histograms" });
    node.appendChild(box);
    for (const h of data.histograms) box.appendChild(igcliHistogram(h, kit));
  }

  // ---- gallery ----
  if (data.image_run) igcliGallery(kit);

  // ---- table inputs and token models: mean |A| per feature, each row's strongest features ----
  igcliFeatures(kit);

  // ---- the table: every instance, drawn only where it is in view ----
  const tableSection = section("Instances (" + grouped.format(rows) + ")", "instances");
  const visible = columns.filter(function (column) { return !column.empty; });
  const hidden = columns.filter(function (column) { return column.empty; }).map(function (column) { return column.name; });
  const controls = el("div", { className: "controls" });
  const idFilter = el("input", { type: "search", id: "filter-id", placeholder: "id contains\u2026", autocomplete: "off", spellcheck: false });
  const statusFilter = el("select", { id: "filter-status" });
  for (const [value, label] of [["all", "all"], ["ok", "ok"], ["error", "error"]]) statusFilter.appendChild(el("option", { value: value }, label));
  const rowCount = el("span", { className: "note", id: "row-count" });
  controls.appendChild(el("label", null, ["id: ", idFilter]));
  controls.appendChild(el("label", null, ["status: ", statusFilter]));
  controls.appendChild(rowCount);
  tableSection.appendChild(controls);

  const ROW = 26;
  const scroller = el("div", { className: "scroller", id: "table-scroller", tabIndex: 0 });
  const table = el("table", { className: "rows", id: "rows" });
  const colgroup = el("colgroup");
  const widths = { id: 190, source: 300, error: 360, status: 70 };
  let tableWidth = 0;
  for (const column of visible) {  // wide enough for the header's name, at 8 px a letter
    const w = widths[column.name] || Math.max(column.kind === "number" ? 100 : 130, 8 * column.name.length + 34);
    tableWidth += w;
    colgroup.appendChild(el("col")).style.width = w + "px";
  }
  table.style.width = tableWidth + "px";
  table.appendChild(colgroup);
  const headRow = el("tr");
  const headers = visible.map(function (column, c) {
    const th = el("th", { scope: "col", className: column.kind === "number" ? "num" : "" }, el("button", { type: "button", title: "sort by " + column.name }, column.name));
    th.dataset.column = column.name;
    th.addEventListener("click", function () { sortBy(c); });
    headRow.appendChild(th);
    return th;
  });
  table.appendChild(el("thead", null, headRow));
  const body = el("tbody");
  table.appendChild(body);
  scroller.appendChild(table);
  tableSection.appendChild(scroller);
  if (hidden.length) tableSection.appendChild(el("p", { className: "note" }, "Empty in every row, not shown: " + hidden.join(", ")));

  let order = null;  // every row, in the sorted order (null: input order)
  let view = null;   // the rows that pass the filters, in order
  let sortColumn = -1, sortDirection = 1;
  let lowerIds = null;

  function applyFilters() {
    const query = idFilter.value.trim().toLowerCase();
    const status = statusFilter.value;
    if (!query && status === "all") {
      view = order || new Uint32Array(rows).map(function (_, i) { return i; });
    } else {
      if (query && !lowerIds) { lowerIds = new Array(rows); for (let i = 0; i < rows; i++) lowerIds[i] = idOf(i).toLowerCase(); }
      const wantError = status === "error";
      const kept = new Uint32Array(rows);
      let n = 0;
      for (let k = 0; k < rows; k++) {
        const i = order ? order[k] : k;
        if (status !== "all" && failed(i) !== wantError) continue;
        if (query && lowerIds[i].indexOf(query) < 0) continue;
        kept[n++] = i;
      }
      view = kept.subarray(0, n);
    }
    rowCount.textContent = view.length === rows ? grouped.format(rows) + " rows" : grouped.format(view.length) + " of " + grouped.format(rows) + " rows";
  }
  function sortBy(c) {
    const t0 = performance.now();
    if (sortColumn === c) sortDirection = -sortDirection; else { sortColumn = c; sortDirection = 1; }
    order = sortedBy(sortKeys(visible[c]), sortDirection);
    headers.forEach(function (th, k) { if (k === c) th.setAttribute("aria-sort", sortDirection > 0 ? "ascending" : "descending"); else th.removeAttribute("aria-sort"); });
    applyFilters();
    draw(true);
    timings.last_sort_ms = performance.now() - t0;
  }
  function filterChanged() {
    const t0 = performance.now();
    applyFilters();
    scroller.scrollTop = 0;
    draw(true);
    timings.last_filter_ms = performance.now() - t0;
  }
  idFilter.addEventListener("input", filterChanged);
  statusFilter.addEventListener("change", filterChanged);

  let drawnFirst = -1, drawnLast = -1;
  function spacer(height) {
    const row = el("tr", { className: "spacer" });
    const cell = el("td", { colSpan: visible.length });
    cell.style.height = height + "px";
    row.appendChild(cell);
    return row;
  }
  function draw(force) {
    const total = view.length;
    const height = Math.max(scroller.clientHeight, window.innerHeight);  // the box grows with its rows up to its max-height
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - 10);
    const last = Math.min(total, Math.ceil((scroller.scrollTop + height) / ROW) + 10);
    if (!force && first === drawnFirst && last === drawnLast) return;
    drawnFirst = first; drawnLast = last;
    const fragment = document.createDocumentFragment();
    fragment.appendChild(spacer(first * ROW));
    for (let k = first; k < last; k++) {
      const i = view[k];
      const tr = el("tr", { className: failed(i) ? "error" : (numberAt("incomplete", i) === 1 ? "incomplete" : "") });
      tr.dataset.row = i;
      for (const column of visible) {
        const td = el("td", { className: column.kind === "number" ? "num" : "" });
        const shown = column.text(i);
        if (column === idColumn && (hasHeatmap(i) || hasTokens(i))) {
          td.appendChild(el("a", { href: hasHeatmap(i) ? fileUrl("heatmaps", fileKey(i), ".png") : fileUrl("tokens", fileKey(i), ".html"), target: "_blank", rel: "noopener" }, shown));
        } else if (column.name === "source") {
          td.className = "path";  // right to left, so a long path loses its start, not its file name
          td.textContent = "\u200e" + shown + "\u200e";
        } else {
          td.textContent = shown;
        }
        const full = column.full(i);
        if (full.length > 12) td.title = full;
        if (LIMITED.indexOf(column.name) >= 0 && !failed(i) && overLimit(column.name, i)) {
          td.className += " over";
          td.title = column.name === "incomplete" ? "incomplete: more steps will not close the gap" : full + " > " + limitText(column.name);
        }
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    fragment.appendChild(spacer((total - last) * ROW));
    body.textContent = "";
    body.appendChild(fragment);
  }
  let pending = false;
  scroller.addEventListener("scroll", function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(false); });
  });
  window.addEventListener("resize", function () { draw(true); });
  applyFilters();
  draw(true);
  timings.first_render_ms = performance.now();
  document.documentElement.dataset.ready = String(Math.round(timings.first_render_ms));
  requestAnimationFrame(function () { setTimeout(function () { timings.first_paint_ms = performance.now(); }, 0); });
})();
