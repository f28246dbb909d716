"use strict";
// compare.html's table: the compared rows of compare.csv the page holds (the most changed, at most
// data.max_rows), drawn only where they are in view, sorted by any column, filtered by id and
// verdict; rows with the verdict "changed" marked. One of the files page.py joins into the page's
// one script, before compare.js, which calls igcliTable.
function igcliTable(kit) {
  const el = kit.el, data = kit.data, rows = data.rows;
  const node = kit.section("Compared rows (" + kit.grouped.format(data.total_rows) + ")", "rows-section");
  if (data.total_rows > rows) {
    node.appendChild(el("p", { className: "problem bounded", id: "bounded" }, "This page holds the " + kit.grouped.format(rows) + " most changed of the " +
      kit.grouped.format(data.total_rows) + " rows (at most " + kit.grouped.format(data.max_rows) + "); compare.csv has every row."));
  }
  const state = { kit: kit, rows: rows, order: null, view: null, sortColumn: -1, sortDirection: 1, lowerIds: null, first: -1, last: -1 };
  state.visible = kit.columns.filter(function (column) { return !column.empty; });
  state.idFilter = el("input", { type: "search", id: "filter-id", placeholder: "id contains\u2026", autocomplete: "off", spellcheck: false });
  state.verdictFilter = el("select", { id: "filter-verdict" });
  for (const value of ["all", "changed", "within noise", "same"]) state.verdictFilter.appendChild(el("option", { value: value }, value));
  state.count = el("span", { className: "note", id: "row-count" });
  node.appendChild(el("div", { className: "controls" }, [el("label", null, ["id: ", state.idFilter]), el("label", null, ["verdict: ", state.verdictFilter]), state.count]));
  state.scroller = el("div", { className: "scroller", id: "table-scroller", tabIndex: 0 });
  state.body = el("tbody");
  state.scroller.appendChild(igcliTableHead(state));
  node.appendChild(state.scroller);
  node.appendChild(el("p", { className: "note" }, "Rows in order of relative_change, most changed first, until a heading is clicked; \u201cchanged\u201d rows are marked."));
  const changed = function () { igcliTableFilter(state); state.scroller.scrollTop = 0; igcliTableDraw(state, true); };
  state.idFilter.addEventListener("input", changed);
  state.verdictFilter.addEventListener("change", changed);
  let pending = false;
  state.scroller.addEventListener("scroll", function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; igcliTableDraw(state, false); });
  });
  window.addEventListener("resize", function () { igcliTableDraw(state, true); });
  igcliTableFilter(state);
  igcliTableDraw(state, true);
}

function igcliTableHead(state) {
  const el = state.kit.el;
  const table = el("table", { className: "rows", id: "rows" });
  const colgroup = el("colgroup");
  const widths = { id: 190, verdict: 110, most_changed_feature: 170 };
  let width = 0;
  for (const column of state.visible) {  // wide enough for the header's name, at 8 px a letter
    const w = widths[column.name] || Math.max(column.kind === "number" ? 96 : 120, 8 * column.name.length + 34);
    width += w;
    colgroup.appendChild(el("col")).style.width = w + "px";
  }
  table.style.width = width + "px";
  table.appendChild(colgroup);
  const head = el("tr");
  state.headers = state.visible.map(function (column, c) {
    const th = el("th", { scope: "col", className: column.kind === "number" ? "num" : "" }, el("button", { type: "button", title: "sort by " + column.name }, column.name));
    th.dataset.column = column.name;
    th.addEventListener("click", function () { igcliTableSort(state, c); });
    head.appendChild(th);
    return th;
  });
  table.appendChild(el("thead", null, head));
  table.appendChild(state.body);
  return table;
}

function igcliTableSort(state, c) {
  if (state.sortColumn === c) state.sortDirection = -state.sortDirection; else { state.sortColumn = c; state.sortDirection = 1; }
  state.order = state.kit.ordering.sortedBy(state.kit.ordering.sortKeys(state.visible[c]), state.sortDirection);
  state.headers.forEach(function (th, k) { if (k === c) th.setAttribute("aria-sort", state.sortDirection > 0 ? "ascending" : "descending"); else th.removeAttribute("aria-sort"); });
  igcliTableFilter(state);
  igcliTableDraw(state, true);
}

function igcliTableFilter(state) {
  const kit = state.kit, rows = state.rows, order = state.order;
  const query = state.idFilter.value.trim().toLowerCase(), verdict = state.verdictFilter.value;
  if (!query && verdict === "all") {
    state.view = order || new Uint32Array(rows).map(function (_, i) { return i; });
  } else {
    if (query && !state.lowerIds) { state.lowerIds = new Array(rows); for (let i = 0; i < rows; i++) state.lowerIds[i] = kit.textAt("id", i).toLowerCase(); }
    const kept = new Uint32Array(rows);
    let n = 0;
    for (let k = 0; k < rows; k++) {
      const i = order ? order[k] : k;
      if (verdict !== "all" && kit.textAt("verdict", i) !== verdict) continue;
      if (query && state.lowerIds[i].indexOf(query) < 0) continue;
      kept[n++] = i;
    }
    state.view = kept.subarray(0, n);
  }
  const grouped = kit.grouped;
  state.count.textContent = state.view.length === rows ? grouped.format(rows) + " rows" : grouped.format(state.view.length) + " of " + grouped.format(rows) + " rows";
}

const IGCLI_ROW = 26;

function igcliTableDraw(state, force) {
  const kit = state.kit, el = kit.el, scroller = state.scroller, total = state.view.length;
  const height = Math.max(scroller.clientHeight, window.innerHeight);  // the box grows with its rows up to its max-height
  const first = Math.max(0, Math.floor(scroller.scrollTop / IGCLI_ROW) - 10);
  const last = Math.min(total, Math.ceil((scroller.scrollTop + height) / IGCLI_ROW) + 10);
  if (!force && first === state.first && last === state.last) return;
  state.first = first; state.last = last;
  const fragment = document.createDocumentFragment();
  const spacer = function (rows) {
    const cell = el("td", { colSpan: state.visible.length });
    cell.style.height = rows * IGCLI_ROW + "px";
    return el("tr", { className: "spacer" }, cell);
  };
  fragment.appendChild(spacer(first));
  for (let k = first; k < last; k++) {
    const i = state.view[k], verdict = kit.textAt("verdict", i);
    const tr = el("tr", { className: IGCLI_VERDICT_CLASS[verdict] || "" });
    tr.dataset.row = i;
    for (const column of state.visible) {
      const td = el("td", { className: column.kind === "number" ? "num" : "" }, column.text(i));
      if (column.name === "verdict") td.className = "verdict " + (IGCLI_VERDICT_CLASS[verdict] || "");
      const full = column.full(i);
      if (full.length > 12) td.title = full;
      tr.appendChild(td);
    }
    fragment.appendChild(tr);
  }
  fragment.appendChild(spacer(total - last));
  state.body.textContent = "";
  state.body.appendChild(fragment);
}
