"use strict";
// compare.html's first sections: the verdict counts and the exit code as cards, the settings the
// runs differ in, the two runs side by side, and the instances found in one run only or failed.
// One of the files page.py joins into the page's one script, before compare.js, which calls them.
function igcliVerdict(kit) {
  const el = kit.el, counts = kit.counts, t = kit.thresholds, record = kit.record, grouped = kit.grouped;
  const node = kit.section("Verdict", "verdict");
  const cards = el("div", { className: "cards", id: "cards" });
  node.appendChild(cards);
  const number = function (name) { return typeof counts[name] === "number" ? counts[name] : null; };
  const shown = function (name) { return number(name) === null ? "\u2013" : grouped.format(number(name)); };
  const code = typeof record.exit_code === "number" ? record.exit_code : null;
  cards.appendChild(kit.card(code === null ? "\u2013" : String(code), "exit code", code ? "bad" : null, code === 3 ? "3: a map or the global importance changed beyond the gate" : "0: nothing changed beyond the gate"));
  cards.appendChild(kit.card(shown("changed"), "changed", number("changed") ? "bad" : null));
  cards.appendChild(kit.card(shown("within_noise"), "within noise", number("within_noise") ? "warn" : null));
  cards.appendChild(kit.card(shown("same"), "same"));
  cards.appendChild(kit.card(shown("prediction_changed"), "prediction changed", number("prediction_changed") ? "bad" : null));
  cards.appendChild(kit.card(shown("pairs"), "maps compared"));
  cards.appendChild(kit.card(shown("matched"), "instances matched"));
  for (const [name, label] of [["only_in_a", "only in A"], ["only_in_b", "only in B"], ["failed_in_either", "failed in either"]]) {
    cards.appendChild(kit.card(shown(name), label, number(name) ? "warn" : null));
  }
  const pooled = (record.global || []).find(function (g) { return g.class === null; });
  if (pooled) cards.appendChild(kit.card(kit.formatNumber(pooled.ndcg), "global nDCG (min " + kit.formatNumber(t.min_ndcg) + ")", pooled.below ? "bad" : null));
  if (typeof t.min_rank_corr === "number") node.appendChild(el("p", { className: "note" }, [
    "A map is changed when its rank correlation (Spearman, of |A| or of A) is under " + kit.formatNumber(t.min_rank_corr) +
    " or the overlap of its top 10% features (iou_10) is under " + kit.formatNumber(t.min_top_iou) +
    ", by more than the integration noise of the two runs (noise_allowance, times " + kit.formatNumber(t.noise_margin) +
    "); within noise when only by less. The global importance (mean |A| per feature) is gated by nDCG \u2265 " + kit.formatNumber(t.min_ndcg) + ".",
  ]));
  igcliSettingsDiffer(kit, node);
}

function igcliSettingsDiffer(kit, node) {
  const el = kit.el, differ = kit.record.settings_differ;
  if (!differ || typeof differ !== "object") return;
  const names = Object.keys(differ);
  if (!names.length) {
    node.appendChild(el("p", { className: "note", id: "settings-same" }, "The runs' settings are the same."));
    return;
  }
  const box = el("div", { className: "warning", id: "settings-differ" });
  box.appendChild(el("h3", null, "The runs differ in " + names.length + (names.length === 1 ? " setting" : " settings") + ": a change may come from them"));
  const table = el("table", { className: "kv" });
  table.appendChild(el("thead", null, el("tr", null, [el("th", null, "setting"), el("th", null, "A"), el("th", null, "B")])));
  const body = el("tbody");
  for (const name of names) {
    const pair = Array.isArray(differ[name]) ? differ[name] : [differ[name], ""];
    body.appendChild(el("tr", null, [el("th", null, name), el("td", { className: "mono" }, kit.plain(pair[0])), el("td", { className: "mono" }, kit.plain(pair[1]))]));
  }
  table.appendChild(body);
  box.appendChild(table);
  node.appendChild(box);
}

// the two runs' facts side by side; the rows that differ marked
function igcliRuns(kit) {
  const el = kit.el, a = kit.record.run_a || {}, b = kit.record.run_b || {};
  if (!Object.keys(a).length && !Object.keys(b).length) return;
  const node = kit.section("Runs", "runs");
  const keys = [];
  for (const key of Object.keys(a).concat(Object.keys(b))) if (keys.indexOf(key) < 0) keys.push(key);
  const table = el("table", { className: "kv sides", id: "run-facts" });
  table.appendChild(el("thead", null, el("tr", null, [el("th", null, ""), el("th", null, "A"), el("th", null, "B")])));
  const body = el("tbody");
  for (const key of keys) {
    const left = kit.plain(a[key]), right = kit.plain(b[key]);
    const differs = key !== "path" && left !== right;
    const row = el("tr", { className: differs ? "differs" : "" }, [el("th", null, key), el("td", { className: "mono" }, left), el("td", { className: "mono" }, right)]);
    if (differs) row.title = key + " differs";
    body.appendChild(row);
  }
  table.appendChild(body);
  node.appendChild(table);
}

// the instances found in one run only, and those that failed in either (compare.json lists the first 100)
function igcliUnmatched(kit) {
  const el = kit.el, record = kit.record, counts = kit.counts;
  const lists = [["only_in_a", "Only in A"], ["only_in_b", "Only in B"], ["failed_in_either", "Failed in either run"]];
  if (!lists.some(function (pair) { return (record[pair[0]] || []).length || counts[pair[0]]; })) return;
  const node = kit.section("Not compared", "unmatched");
  const box = el("div", { className: "columns" });
  node.appendChild(box);
  for (const [name, title] of lists) {
    const ids = record[name] || [], total = typeof counts[name] === "number" ? counts[name] : ids.length;
    const part = el("div", { id: "list-" + name.replace(/_/g, "-") });
    part.appendChild(el("h3", null, title + " (" + kit.grouped.format(total) + ")"));
    if (ids.length) {
      const list = el("ul", { className: "ids list-box" });
      for (const ident of ids) list.appendChild(el("li", { className: "mono" }, kit.plain(ident)));
      part.appendChild(list);
    }
    if (total > ids.length) part.appendChild(el("p", { className: "note" }, "the first " + ids.length + " of " + kit.grouped.format(total) + " (compare.json lists no more)"));
    if (!total) part.appendChild(el("p", { className: "note" }, "none"));
    box.appendChild(part);
  }
}
