"use strict";
// report.html's gallery of heatmaps, for image runs: the failures first (the first
// data.failed_tiles of them), then the explained instances in the chosen order, data.max_gallery
// tiles at a time. One of the files page.py joins into the page's one script, before report.js,
// which calls it with its helpers.
const igcliGallery = (function () {
  // the order menu and the note; g: the gallery's state, shared by the functions below
  function controls(kit, g, node) {
    const el = kit.el;
    const box = el("div", { className: "controls" });
    g.orderSelect = el("select", { id: "gallery-order" });
    g.orderSelect.appendChild(el("option", { value: "delta" }, "failures, then largest relative delta"));
    for (const name of kit.data.metrics) {
      g.orderSelect.appendChild(el("option", { value: "low:" + name }, "failures, then lowest " + name));
      g.orderSelect.appendChild(el("option", { value: "high:" + name }, "failures, then highest " + name));
    }
    box.appendChild(el("label", null, ["order: ", g.orderSelect]));
    g.note = el("span", { className: "note", id: "gallery-note" });
    box.appendChild(g.note);
    node.appendChild(box);
    if (g.xrai) {
      const area = Math.round(100 * kit.data.xrai_area) + "%";
      node.appendChild(el("p", { className: "note", id: "gallery-xrai-note" }, "Each tile: the heatmap, and beside it the XRAI regions (--xrai)"
        + (kit.byName.rank ? " of the tile's target" : "") + ": the best regions covering " + area + " of the image at full brightness, the rest dimmed."));
    }
  }

  // the rows to show as tiles, in order: failures, then those with a heatmap by the chosen key
  function galleryIndex(kit, g, choice) {
    const data = kit.data, rows = kit.rows, byName = kit.byName;
    const failures = [], rest = [];
    for (let i = 0; i < rows; i++) { if (kit.failed(i)) failures.push(i); else if (kit.hasHeatmap(i)) rest.push(i); }
    g.failureCount = failures.length;
    g.withoutHeatmap = rows - failures.length - rest.length;
    // many failures would fill the gallery: the first few stand for them (all are listed above)
    if (failures.length > data.failed_tiles) failures.length = data.failed_tiles;
    let keys, direction;
    if (choice === "delta") { keys = byName.relative_delta ? byName.relative_delta.numbers : null; direction = -1; }
    else { const parts = choice.split(":"); keys = byName[parts.slice(1).join(":")].numbers; direction = parts[0] === "low" ? 1 : -1; }
    const ordered = keys ? kit.sortedBy(keys, direction, rest) : rest;
    const all = new Uint32Array(failures.length + ordered.length);
    all.set(failures, 0); all.set(ordered, failures.length);
    return all;
  }

  function caption(kit, g, i, ident) {
    const el = kit.el, formatNumber = kit.formatNumber, textAt = kit.textAt, failed = kit.failed(i), key = g.key;
    const rank = kit.byName.rank && textAt("rank", i) ? "#" + textAt("rank", i) + " " : "";  // several targets: which
    const target = rank + (textAt("target_name", i) || (kit.byName.target ? "class " + textAt("target", i) : ""));
    const score = kit.byName.score ? formatNumber(kit.numberAt("score", i)) : "";
    const detail = failed ? textAt("source", i) : target + (score ? " \u00b7 score " + score : "");
    const extra = failed ? "" : (key ? key.label + " " + formatNumber(key.keys[i]) : "");
    const keyOver = key && kit.LIMITED.indexOf(key.label) >= 0 && !failed && kit.overLimit(key.label, i);
    const flags = kit.overFlags(i, keyOver ? key.label : null).join(" \u00b7 ");
    return el("figcaption", null, [
      el("span", { className: "id", title: ident }, ident),
      el("span", { className: "detail", title: detail }, detail),
      extra ? el("span", { className: "detail" + (keyOver ? " over" : ""), title: keyOver ? extra + " > " + kit.limitText(key.label) : "" }, extra + (keyOver ? " > " + formatNumber(kit.limitOf(key.label)) : "")) : null,
      flags ? el("span", { className: "detail over", title: flags }, flags) : null,
    ]);
  }

  // a picture that opens its PNG; its box takes the picture's own shape once loaded (and, beside
  // another in a pair, a share of the width in proportion to it: the two stand equally high)
  function picture(kit, g, url, name, what, className) {
    const el = kit.el;
    const image = el("img", { src: url, alt: what + " of " + name, loading: "lazy", decoding: "async" });
    const link = el("a", { className: className, href: url, target: "_blank", rel: "noopener", title: "open " + name }, image);
    image.addEventListener("load", function () {
      const ratio = image.naturalWidth / image.naturalHeight;
      link.style.aspectRatio = image.naturalWidth + " / " + image.naturalHeight;
      if (g.xrai) link.style.flex = ratio + " 1 0";
      if (className === "image" && ratio > 1.6) g.grid.classList.add("panels");
    });
    return link;
  }

  // the heatmap; in a --xrai run, the XRAI regions beside it (or a note where XRAI could not segment the image)
  function pictures(kit, g, i, ident) {
    const el = kit.el, heatmap = picture(kit, g, kit.fileUrl("heatmaps", ident, ".png"), ident + ".png", "heatmap", "image");
    if (!g.xrai) return heatmap;
    const regions = g.xrai[i] === 1
      ? picture(kit, g, kit.fileUrl("heatmaps", ident, ".xrai.png"), ident + ".xrai.png", "XRAI regions", "image regions")
      : el("div", { className: "placeholder regions" }, "no XRAI regions: the image could not be segmented");
    return el("div", { className: "pair" }, [heatmap, regions]);
  }

  function tile(kit, g, i) {
    const el = kit.el, ident = kit.fileKey(i);
    const figure = el("figure", { className: "tile" + (kit.overFlags(i).length ? " over" : "") });
    if (kit.failed(i)) {
      figure.className = "tile failed";
      figure.appendChild(el("div", { className: "placeholder", title: kit.textAt("error", i) }, [el("strong", null, "failed"), kit.textAt("error", i)]));
    } else if (kit.hasHeatmap(i)) {
      figure.appendChild(pictures(kit, g, i, ident));
    } else {
      figure.appendChild(el("div", { className: "placeholder" }, "no heatmap"));
    }
    figure.appendChild(caption(kit, g, i, ident));
    return figure;
  }

  function noteText(kit, g) {
    const data = kit.data, grouped = kit.grouped, total = g.order.length, failureCount = g.failureCount;
    const left = failureCount - Math.min(failureCount, data.failed_tiles);
    return (g.shown < total
      ? "showing the first " + grouped.format(g.shown) + " of " + grouped.format(total) + " tiles in this order; the table below links every heatmap"
      : "showing all " + grouped.format(total) + " tiles") + (left ? "; " + grouped.format(failureCount) + " failures, the first " + data.failed_tiles + " as tiles" : "")
      + (g.withoutHeatmap ? "; " + grouped.format(g.withoutHeatmap) + " explained instances have no heatmap file and are left out" : "");
  }

  function showMore(kit, g) {
    const data = kit.data, el = kit.el, grouped = kit.grouped;
    const summaryTile = g.shown < data.failed_tiles && g.failureCount > data.failed_tiles;  // takes a place in this batch
    const stop = Math.min(g.order.length, g.shown + data.max_gallery - (summaryTile ? 1 : 0));
    const fragment = document.createDocumentFragment();
    for (let k = g.shown; k < stop; k++) {
      fragment.appendChild(tile(kit, g, g.order[k]));
      if (k === data.failed_tiles - 1 && g.failureCount > data.failed_tiles) {
        const rest = g.failureCount - data.failed_tiles;
        fragment.appendChild(el("figure", { className: "tile failed more-failures" }, el("div", { className: "placeholder" }, [
          el("strong", null, "+ " + grouped.format(rest) + " more failures"), "listed under Failures above; the table shows them with status = error"])));
      }
    }
    g.grid.appendChild(fragment);
    g.shown = stop;
    g.note.textContent = noteText(kit, g);
    g.moreButton.textContent = "show " + grouped.format(Math.min(data.max_gallery, g.order.length - g.shown)) + " more";
    g.moreButton.hidden = g.shown >= g.order.length;
  }

  function drawGallery(kit, g) {
    const choice = g.orderSelect.value, byName = kit.byName;
    g.order = galleryIndex(kit, g, choice);
    const name = choice === "delta" ? "relative_delta" : choice.split(":").slice(1).join(":");
    g.key = byName[name] && byName[name].numbers ? { label: name, keys: byName[name].numbers } : null;
    g.grid.textContent = "";
    g.shown = 0;
    showMore(kit, g);
  }

  return function (kit) {
    const el = kit.el, node = kit.section("Heatmaps", "gallery");
    // order: the rows shown as tiles; key: the column of the order ({ label, keys }), if any
    // xrai: data.xrai, 1 for each row with an XRAI picture, when the run was made with --xrai
    const g = { order: null, shown: 0, failureCount: 0, withoutHeatmap: 0, key: null, xrai: Array.isArray(kit.data.xrai) ? kit.data.xrai : null };
    controls(kit, g, node);
    // --panel's wide PNGs get wide tiles (data.panels, or seen when the first wide image loads)
    g.grid = node.appendChild(el("div", { className: "gallery" + (kit.data.panels ? " panels" : "") + (g.xrai ? " xrai" : ""), id: "gallery-grid" }));
    g.moreButton = el("button", { type: "button", id: "gallery-more" });
    node.appendChild(el("p", null, g.moreButton));
    g.orderSelect.addEventListener("change", function () { drawGallery(kit, g); });
    g.moreButton.addEventListener("click", function () { showMore(kit, g); });
    drawGallery(kit, g);
  };
})();
