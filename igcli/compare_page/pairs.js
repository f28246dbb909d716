"use strict";
// compare.html's most changed instances, most changed first (compare.json's pairs_shown): for image
// runs both heatmaps side by side, A | B, each keeping its aspect ratio; the verdict "changed"
// marked. One of the files page.py joins into the page's one script, before compare.js.
function igcliPairs(kit) {
  const el = kit.el, pairs = kit.data.pairs || [], step = kit.data.image_run ? 24 : 12;
  if (!pairs.length) return;
  const total = typeof kit.counts.pairs === "number" ? kit.counts.pairs : pairs.length;
  const node = kit.section("Most changed", "pairs");
  node.appendChild(el("p", { className: "note" }, "The " + kit.grouped.format(pairs.length) + " most changed of " + kit.grouped.format(total) +
    " compared maps, by relative_change = \u2016A\u2082 \u2212 A\u2081\u2016 / \u2016A\u2081\u2016, most changed first" + (kit.data.image_run ? "; left A, right B." : ".")));
  const grid = el("div", { className: "pair-grid" + (kit.data.image_run ? " images" : ""), id: "pair-grid" });
  node.appendChild(grid);
  const more = el("button", { type: "button", id: "more-pairs" });
  let shown = 0;
  function showMore() {
    const end = Math.min(pairs.length, shown + step);
    for (; shown < end; shown++) grid.appendChild(igcliPairTile(kit, pairs[shown], shown));
    more.textContent = "show " + Math.min(step, pairs.length - shown) + " more (" + shown + " of " + pairs.length + " shown)";
    more.hidden = shown >= pairs.length;
  }
  more.addEventListener("click", showMore);
  node.appendChild(el("div", { className: "controls" }, more));
  showMore();
}

const IGCLI_VERDICT_CLASS = { changed: "changed", "within noise": "noise", same: "same" };

function igcliPairTile(kit, pair, rank) {
  const el = kit.el, verdict = kit.plain(pair.verdict);
  const tile = el("figure", { className: "tile pair " + (IGCLI_VERDICT_CLASS[verdict] || "") });
  tile.dataset.rank = String(rank);
  if (kit.data.image_run) {
    const images = el("div", { className: "pair-images" });
    for (const [side, path] of [["A", pair.heatmap_a], ["B", pair.heatmap_b]]) {
      const box = el("div", { className: "side" }, el("span", { className: "side-label" }, side));
      if (path) {
        const img = el("img", { src: kit.fileUrl(path), alt: side + ": heatmap of " + kit.plain(pair.id), loading: rank < 8 ? "eager" : "lazy", decoding: "async" });
        box.appendChild(el("a", { className: "image", href: kit.fileUrl(path), target: "_blank", rel: "noopener" }, img));
      } else {
        box.appendChild(el("div", { className: "placeholder" }, "no heatmap in run " + side));
      }
      images.appendChild(box);
    }
    tile.appendChild(images);
  }
  tile.appendChild(igcliPairCaption(kit, pair, verdict));
  return tile;
}

function igcliPairCaption(kit, pair, verdict) {
  const el = kit.el, f = kit.formatNumber, t = kit.thresholds;
  const caption = el("figcaption");
  const i = kit.rowIndex(pair.id, pair.position);
  const target = i >= 0 ? (kit.textAt("target_name_a", i) || kit.textAt("target_a", i)) : "";
  const title = el("span", { className: "id" }, kit.plain(pair.id) + (pair.position ? " \u00b7 target " + (pair.position + 1) : ""));
  title.title = kit.plain(pair.id);
  caption.appendChild(title);
  caption.appendChild(el("span", { className: "verdict " + (IGCLI_VERDICT_CLASS[verdict] || "") }, verdict));
  if (target !== "") caption.appendChild(el("span", { className: "detail" }, "target " + target));
  const figures = el("dl", { className: "figures" });
  const add = function (label, value, low) {
    const bad = typeof low === "number" && typeof value === "number" && value < low;
    figures.appendChild(el("div", { className: bad ? "low" : "" }, [el("dt", null, label), el("dd", null, f(value))]));
  };
  add("relative change", pair.relative_change);
  add("spearman |A|", pair.spearman_abs, t.min_rank_corr);
  add("spearman", pair.spearman, t.min_rank_corr);
  add("iou top 10%", pair.iou_10, t.min_top_iou);
  add("cosine", pair.cosine);
  if (i >= 0 && kit.textAt("most_changed_feature", i)) {
    figures.appendChild(el("div", { className: "wide" }, [el("dt", null, "most changed"), el("dd", { className: "mono" }, kit.textAt("most_changed_feature", i) + " (" + f(kit.numberAt("feature_change", i)) + ")")]));
  }
  if (i >= 0 && kit.numberAt("prediction_changed", i) === 1) {
    figures.appendChild(el("div", { className: "wide low" }, [el("dt", null, "prediction"), el("dd", null, kit.textAt("predicted_a", i) + " \u2192 " + kit.textAt("predicted_b", i))]));
  }
  caption.appendChild(figures);
  return caption;
}
