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
  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) for (const key in props) node[key] = props[key];
    if (children !== undefined && children !== null) append(node, children);
    return node;
  }
  function append(node, children) {
    if (!Array.isArray(children)) children = [children];
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const key in attrs) node.setAttribute(key, String(attrs[key]));
    if (text !== undefined) node.textContent = text;
    return node;
  }
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
  function formatNumber(value) {
    if (value !== value) return "";
    if (value === Infinity) return "inf";
    if (value === -Infinity) return "-inf";
    if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
    const size = Math.abs(value);
    if (size >= 1000 && size < 1e9) return value.toFixed(1);
    const exponential = size < 1e-3 || size >= 1e9;
    const short = exponential ? value.toExponential(3).replace("e+", "e") : value.toPrecision(4);
    const trimmed = short.replace(/\.?0+(?=e|$)/, "");
    return short.indexOf(".") >= 0 && Number(trimmed) === value ? trimmed : short;  // 0.5 not 0.5000, 1e-7; 0.99997 stays 1.000
  }
  function plain(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return String(value);
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }
  const grouped = new Intl.NumberFormat("en-US");

  // ---- the data ----
  const data = JSON.parse(document.getElementById("igcli-data").textContent);
  const run = data.run || {};
  const rows = data.rows;
  const columns = data.columns.map(function (column) {
    const decoded = { name: column.name, kind: column.kind, empty: !!column.empty };
    if (column.kind === "number") {
      const numbers = new Float64Array(rows);
      const values = column.values;
      for (let i = 0; i < rows; i++) { const v = values[i]; numbers[i] = v === null ? NaN : Number(v); }
      decoded.numbers = numbers;
      decoded.text = function (i) { return formatNumber(numbers[i]); };
      decoded.full = function (i) { const v = numbers[i]; return v === v ? String(v) : ""; };
    } else if (column.dictionary) {
      const dictionary = column.dictionary, codes = Int32Array.from(column.codes);
      decoded.dictionary = dictionary; decoded.codes = codes;
      decoded.text = function (i) { return dictionary[codes[i]]; };
      decoded.full = decoded.text;
    } else {
      const values = column.values;
      decoded.values = values;
      decoded.text = function (i) { return values[i]; };
      decoded.full = decoded.text;
    }
    return decoded;
  });
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
  const kit = { data: data, el: el, svg: svg, section: section, formatNumber: formatNumber, grouped: grouped };

  // ---- header, counts, settings ----
  document.title = "igcli report: " + data.out_name;
  const subtitle = document.getElementById("subtitle");
  append(subtitle, [data.out_name, " \u00b7 written " + data.generated]);
  if (run.model && run.model.path) append(subtitle, [" \u00b7 model ", el("span", { className: "mono" }, String(run.model.path))]);
  for (const note of data.notes) problem(note);

  const overview = section("Run", "run");
  const cards = el("div", { className: "cards" });
  overview.appendChild(cards);
  function card(label, value, tone) {
    cards.appendChild(el("div", { className: "card" + (tone ? " " + tone : "") }, [el("div", { className: "value" }, value), el("div", { className: "label" }, label)]));
  }
  const exitMeaning = { 0: "every instance explained", 1: "some instances failed", 2: "usage error", 3: "over --max-delta or --max-error" };
  if (run.exit_code !== undefined) card("exit code: " + (exitMeaning[run.exit_code] || "see README"), String(run.exit_code), run.exit_code === 0 ? null : (run.exit_code === 3 ? "warn" : "bad"));
  const counts = run.counts || {};
  for (const key in counts) {
    const value = counts[key];
    card(key.replace(/_/g, " "), typeof value === "number" ? grouped.format(value) : plain(value),
         (key === "failed" || key === "skipped_files") && value > 0 ? "bad" : (key === "uninformative_baselines" && value > 0 ? "warn" : null));
  }
  if (!run.counts) card("rows in summary.csv", grouped.format(rows));
  // the gates' own lists when --max-delta / --max-error were given, else the rows over 0.05
  function limitCards(name, worst, worstLabel, gateList) {
    if (typeof worst === "number") card(worstLabel + " (limit " + limitText(name) + ")", formatNumber(worst), worst > limitOf(name) ? "warn over" : null);
    const count = limits[name] && limits[name].option ? (Array.isArray(gateList) ? gateList.length : 0) : overCount(name);
    if (count) card(name.replace(/_/g, " ") + " over " + limitText(name), grouped.format(count), "warn over");
  }
  limitCards("relative_delta", run.max_relative_delta, "max relative delta", run.over_max_delta);
  const estimate = run.error_estimate || {};
  if (estimate.estimated) limitCards("error_estimate", estimate.max, "max error estimate (median " + formatNumber(estimate.median) + ")", estimate.over_max_error);
  const gaps = estimate.incomplete && Array.isArray(estimate.incomplete.ids) ? estimate.incomplete.ids : [];
  if (gaps.length) card("incomplete: more steps will not fix", grouped.format(gaps.length), "bad over");
  if (run.stopped_early) card("stopped at the first failure (--fail-fast)", "yes", "bad");

  function kvTable(object) {
    const table = el("table", { className: "kv" });
    const body = el("tbody");
    for (const key in object) body.appendChild(el("tr", null, [el("th", { scope: "row" }, key), el("td", null, plain(object[key]))]));
    table.appendChild(body);
    return table;
  }
  function pairs(object) {  // key/value pairs flowing in as many columns as fit
    const grid = el("dl", { className: "pairs" });
    for (const key in object) grid.appendChild(el("div", null, [el("dt", null, key), el("dd", null, plain(object[key]))]));
    return grid;
  }
  if (run.resolved) overview.appendChild(el("div", null, [el("h3", null, "Settings (resolved)"), pairs(run.resolved)]));
  const panels = el("div", { className: "columns" });
  overview.appendChild(panels);
  if (run.timings) panels.appendChild(el("div", null, [el("h3", null, "Timings (seconds)"), kvTable(run.timings)]));
  if (run.metrics) {
    const means = Object.assign({}, data.metric_means || {}), normalised = Object.keys(means).length > 0;
    for (const name in run.metrics) means[name + (normalised ? " (model units)" : "")] = run.metrics[name];
    panels.appendChild(el("div", null, [el("h3", null, "Metrics (means)"), kvTable(means), normalised ? el("p", { className: "note" },
      "_normalised: the curve's area with F(x) at 1 and F(x') at 0, comparable across runs and models; a faithful map has a low deletion and a high insertion.") : null]));
  }
  if (run.adaptive) {
    const adaptive = Object.assign({}, run.adaptive);
    const histogram = adaptive.steps_histogram; delete adaptive.steps_histogram;
    const ids = adaptive.hit_max_steps_ids; delete adaptive.hit_max_steps_ids;
    const box = el("div", null, [el("h3", null, "--steps auto"), kvTable(adaptive)]);
    panels.appendChild(box);
    if (histogram) box.appendChild(el("details", null, [el("summary", null, "instances by steps"), kvTable(histogram)]));
    if (Array.isArray(ids) && ids.length) box.appendChild(el("details", null, [el("summary", null, ids.length + " instances stopped at --max-steps"), el("p", { className: "mono" }, ids.slice(0, data.max_listed).join(", ") + (ids.length > data.max_listed ? ", \u2026" : ""))]));
  }
  if (estimate.estimated === false && estimate.reason) panels.appendChild(el("div", null, [el("h3", null, "Error estimate"), el("p", null, "None for this run: " + estimate.reason + ".")]));
  if (gaps.length) {
    panels.appendChild(el("div", { className: "alarm" }, [el("h3", null, "Completeness gaps that more steps will not close"),
      el("p", null, gaps.length + " instance(s) whose attributions miss F(x) - F(x') by more than the quadrature explains: the model's gradients do not account for the change of its output (a non-differentiable or gradient-blocking operation, or a jump, along the path). Rows marked in the table (column incomplete)."),
      el("p", { className: "mono" }, gaps.slice(0, data.max_listed).join(", ") + (gaps.length > data.max_listed ? ", \u2026" : ""))]));
  }
  const flat = run.uninformative_baselines;
  if (flat && Array.isArray(flat.ids) && flat.ids.length) {
    panels.appendChild(el("div", null, [el("h3", null, "Uninformative baselines"),
      el("p", null, flat.ids.length + " instance(s) where |F(x) - F(x')| is under " + (100 * flat.share) + "% of |F(x)|: their attributions explain almost no change, and their relative deltas mean little (column uninformative_baseline)."),
      el("p", { className: "mono" }, flat.ids.slice(0, data.max_listed).join(", ") + (flat.ids.length > data.max_listed ? ", \u2026" : ""))]));
  }
  const more = el("div");
  overview.appendChild(more);
  if (run.model) more.appendChild(el("details", null, [el("summary", null, "Model"), kvTable(run.model)]));
  if (run.versions) more.appendChild(el("details", null, [el("summary", null, "Versions"), kvTable(run.versions)]));
  if (run.configuration) more.appendChild(el("details", null, [el("summary", null, "Options as given"), kvTable(run.configuration)]));
  if (Array.isArray(run.command)) more.appendChild(el("details", null, [el("summary", null, "Command"), el("p", { className: "command mono" }, run.command.join(" "))]));

  // ---- failures and skipped files ----
  let errors = Array.isArray(run.errors) ? run.errors : null;
  if (!errors) {
    errors = [];
    for (let i = 0; i < rows; i++) if (failed(i)) errors.push({ id: idOf(i), source: textAt("source", i), error: textAt("error", i) });
  }
  if (errors.length) {
    const node = section("Failures (" + grouped.format(errors.length) + ")", "failures");
    // the kinds of failure: messages with the instance's own path taken out, most frequent first
    const kinds = new Map();
    for (const item of errors) {
      const message = plain(item.error), source = plain(item.source);
      const kind = source && message.indexOf(source) >= 0 ? message.split(source).join("\u2026") : message;
      kinds.set(kind, (kinds.get(kind) || 0) + 1);
    }
    if (kinds.size < errors.length) {
      const ranked = Array.from(kinds.entries()).sort(function (a, b) { return b[1] - a[1]; });
      const body = el("tbody");
      for (const [kind, count] of ranked.slice(0, 10)) body.appendChild(el("tr", null, [el("td", { className: "count" }, grouped.format(count)), el("td", { className: "error" }, kind)]));
      node.appendChild(el("h3", null, "By message (the instance's path shown as \u2026)"));
      node.appendChild(el("table", { className: "list kinds" }, [el("thead", null, el("tr", null, [el("th", { className: "count" }, "instances"), el("th", null, "message")])), body]));
      if (ranked.length > 10) node.appendChild(el("p", { className: "note" }, grouped.format(ranked.length - 10) + " more kinds"));
      node.appendChild(el("h3", null, "Each failure"));
    }
    const body = el("tbody");
    for (const item of errors.slice(0, data.max_listed)) {
      body.appendChild(el("tr", null, [el("td", { className: "mono" }, plain(item.id)), el("td", { className: "mono" }, plain(item.source)), el("td", { className: "error" }, plain(item.error))]));
    }
    node.appendChild(el("div", { className: "list-box" }, el("table", { className: "list" }, [el("thead", null, el("tr", null, [el("th", null, "id"), el("th", null, "source"), el("th", null, "error")])), body])));
    if (errors.length > data.max_listed) node.appendChild(el("p", { className: "note" }, "The first " + data.max_listed + " are listed; the table below filters every failure with status = error."));
  }
  const skipped = Array.isArray(run.skipped_files) ? run.skipped_files : [];
  if (skipped.length) {
    const node = section("Skipped files (" + grouped.format(skipped.length) + ")", "skipped");
    const list = el("ul", { className: "mono" });
    for (const item of skipped.slice(0, data.max_listed)) list.appendChild(el("li", null, plain(item)));
    node.appendChild(list);
  }

  // ---- histograms ----
  if (data.histograms.length) {
    const node = section("Distributions", "distributions");
    const box = el("div", { className: "histograms" });
    node.appendChild(box);
    for (const h of data.histograms) box.appendChild(igcliHistogram(h, kit));
  }

  // ---- ordering helpers ----
  // indices sorted by a numeric key (NaN last either way), ties in input order
  function sortedBy(keys, direction, subset) {
    const index = subset ? Uint32Array.from(subset) : new Uint32Array(rows).map(function (_, i) { return i; });
    index.sort(function (a, b) {
      const x = keys[a], y = keys[b];
      if (x !== x || y !== y) return (x !== x) - (y !== y) || a - b;
      return direction * (x - y) || a - b;
    });
    return index;
  }
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  // a numeric key per row that orders text columns: ranks of the distinct values, computed once
  function sortKeys(column) {
    if (column.numbers) return column.numbers;
    if (column.keys) return column.keys;
    const keys = new Float64Array(rows);
    if (column.dictionary) {
      const order = column.dictionary.map(function (_, i) { return i; }).sort(function (a, b) { return collator.compare(column.dictionary[a], column.dictionary[b]) || a - b; });
      const rank = new Float64Array(order.length);
      order.forEach(function (code, position) { rank[code] = column.dictionary[code] === "" ? NaN : position; });
      for (let i = 0; i < rows; i++) keys[i] = rank[column.codes[i]];
    } else {
      const values = column.values;
      const order = Array.from(values.keys()).sort(function (a, b) { return collator.compare(values[a], values[b]) || a - b; });
      let position = -1, previous = null;
      for (const i of order) {
        if (previous === null || collator.compare(values[i], previous) !== 0) { position++; previous = values[i]; }
        keys[i] = values[i] === "" ? NaN : position;
      }
    }
    column.keys = keys;
    return keys;
  }

  // ---- gallery ----
  if (data.image_run) {
    const node = section("Heatmaps", "gallery");
    const controls = el("div", { className: "controls" });
    const orderSelect = el("select", { id: "gallery-order" });
    orderSelect.appendChild(el("option", { value: "delta" }, "failures, then largest relative delta"));
    for (const name of data.metrics) {
      orderSelect.appendChild(el("option", { value: "low:" + name }, "failures, then lowest " + name));
      orderSelect.appendChild(el("option", { value: "high:" + name }, "failures, then highest " + name));
    }
    controls.appendChild(el("label", null, ["order: ", orderSelect]));
    const galleryNote = el("span", { className: "note", id: "gallery-note" });
    controls.appendChild(galleryNote);
    node.appendChild(controls);
    // --panel's wide PNGs get wide tiles (data.panels, or seen when the first wide image loads)
    const grid = el("div", { className: "gallery" + (data.panels ? " panels" : ""), id: "gallery-grid" });
    node.appendChild(grid);
    const moreButton = el("button", { type: "button", id: "gallery-more" });
    node.appendChild(el("p", null, moreButton));
    let galleryOrder = null, shown = 0;

    let failureCount = 0, withoutHeatmap = 0;
    function galleryIndex(choice) {
      const failures = [], rest = [];
      for (let i = 0; i < rows; i++) { if (failed(i)) failures.push(i); else if (hasHeatmap(i)) rest.push(i); }
      failureCount = failures.length;
      withoutHeatmap = rows - failures.length - rest.length;
      // many failures would fill the gallery: the first few stand for them (all are listed above)
      if (failures.length > data.failed_tiles) failures.length = data.failed_tiles;
      let keys, direction;
      if (choice === "delta") { keys = byName.relative_delta ? byName.relative_delta.numbers : null; direction = -1; }
      else { const parts = choice.split(":"); keys = byName[parts.slice(1).join(":")].numbers; direction = parts[0] === "low" ? 1 : -1; }
      const ordered = keys ? sortedBy(keys, direction, rest) : rest;
      const all = new Uint32Array(failures.length + ordered.length);
      all.set(failures, 0); all.set(ordered, failures.length);
      return all;
    }
    function tile(i) {
      const ident = fileKey(i);
      const figure = el("figure", { className: "tile" + (overFlags(i).length ? " over" : "") });
      if (failed(i)) {
        figure.className = "tile failed";
        figure.appendChild(el("div", { className: "placeholder", title: textAt("error", i) }, [el("strong", null, "failed"), textAt("error", i)]));
      } else if (hasHeatmap(i)) {
        const url = fileUrl("heatmaps", ident, ".png");
        const image = el("img", { src: url, alt: "heatmap of " + ident, loading: "lazy", decoding: "async" });
        const link = figure.appendChild(el("a", { className: "image", href: url, target: "_blank", rel: "noopener", title: "open " + ident + ".png" }, image));
        image.addEventListener("load", function () {  // the box takes the image's own shape
          link.style.aspectRatio = image.naturalWidth + " / " + image.naturalHeight;
          if (image.naturalWidth > 1.6 * image.naturalHeight) grid.classList.add("panels");
        });
      } else {
        figure.appendChild(el("div", { className: "placeholder" }, "no heatmap"));
      }
      const rank = byName.rank && textAt("rank", i) ? "#" + textAt("rank", i) + " " : "";  // several targets: which
      const target = rank + (textAt("target_name", i) || (byName.target ? "class " + textAt("target", i) : ""));
      const score = byName.score ? formatNumber(numberAt("score", i)) : "";
      const detail = failed(i) ? textAt("source", i) : target + (score ? " \u00b7 score " + score : "");
      const extra = failed(i) ? "" : (galleryKey ? galleryKey.label + " " + formatNumber(galleryKey.keys[i]) : "");
      const keyOver = galleryKey && LIMITED.indexOf(galleryKey.label) >= 0 && !failed(i) && overLimit(galleryKey.label, i);
      const flags = overFlags(i, keyOver ? galleryKey.label : null).join(" \u00b7 ");
      figure.appendChild(el("figcaption", null, [
        el("span", { className: "id", title: ident }, ident),
        el("span", { className: "detail", title: detail }, detail),
        extra ? el("span", { className: "detail" + (keyOver ? " over" : ""), title: keyOver ? extra + " > " + limitText(galleryKey.label) : "" }, extra + (keyOver ? " > " + formatNumber(limitOf(galleryKey.label)) : "")) : null,
        flags ? el("span", { className: "detail over", title: flags }, flags) : null,
      ]));
      return figure;
    }
    let galleryKey = null;
    function showMore() {
      const summaryTile = shown < data.failed_tiles && failureCount > data.failed_tiles;  // takes a place in this batch
      const stop = Math.min(galleryOrder.length, shown + data.max_gallery - (summaryTile ? 1 : 0));
      const fragment = document.createDocumentFragment();
      for (let k = shown; k < stop; k++) {
        fragment.appendChild(tile(galleryOrder[k]));
        if (k === data.failed_tiles - 1 && failureCount > data.failed_tiles) {
          const rest = failureCount - data.failed_tiles;
          fragment.appendChild(el("figure", { className: "tile failed more-failures" }, el("div", { className: "placeholder" }, [
            el("strong", null, "+ " + grouped.format(rest) + " more failures"), "listed under Failures above; the table shows them with status = error"])));
        }
      }
      grid.appendChild(fragment);
      shown = stop;
      const left = failureCount - Math.min(failureCount, data.failed_tiles);
      galleryNote.textContent = (shown < galleryOrder.length
        ? "showing the first " + grouped.format(shown) + " of " + grouped.format(galleryOrder.length) + " tiles in this order; the table below links every heatmap"
        : "showing all " + grouped.format(galleryOrder.length) + " tiles") + (left ? "; " + grouped.format(failureCount) + " failures, the first " + data.failed_tiles + " as tiles" : "")
        + (withoutHeatmap ? "; " + grouped.format(withoutHeatmap) + " explained instances have no heatmap file and are left out" : "");
      moreButton.textContent = "show " + grouped.format(Math.min(data.max_gallery, galleryOrder.length - shown)) + " more";
      moreButton.hidden = shown >= galleryOrder.length;
    }
    function drawGallery() {
      const choice = orderSelect.value;
      galleryOrder = galleryIndex(choice);
      const name = choice === "delta" ? "relative_delta" : choice.split(":").slice(1).join(":");
      galleryKey = byName[name] && byName[name].numbers ? { label: name, keys: byName[name].numbers } : null;
      grid.textContent = "";
      shown = 0;
      showMore();
    }
    orderSelect.addEventListener("change", drawGallery);
    moreButton.addEventListener("click", showMore);
    drawGallery();
  }

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
