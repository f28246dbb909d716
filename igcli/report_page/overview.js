"use strict";
// report.html's "Run" section, from run.json (data.run): the cards (exit code, counts, the limits,
// completeness gaps), the resolved settings, the panels (timings, metrics, --steps auto, the error
// estimate, completeness gaps, uninformative baselines) and the details (model, versions, options,
// command). One of the files page.py joins into the page's one script, before report.js, which
// calls it with its helpers.
const igcliOverview = (function () {
  const exitMeaning = { 0: "every instance explained", 1: "some instances failed", 2: "usage error", 3: "over --max-delta or --max-error" };

  function kvTable(kit, object) {
    const el = kit.el, table = el("table", { className: "kv" });
    const body = el("tbody");
    for (const key in object) body.appendChild(el("tr", null, [el("th", { scope: "row" }, key), el("td", null, kit.plain(object[key]))]));
    table.appendChild(body);
    return table;
  }
  function pairs(kit, object) {  // key/value pairs flowing in as many columns as fit
    const el = kit.el, grid = el("dl", { className: "pairs" });
    for (const key in object) grid.appendChild(el("div", null, [el("dt", null, key), el("dd", null, kit.plain(object[key]))]));
    return grid;
  }
  // the first data.max_listed of a list of ids, in one line
  function idList(kit, ids) {
    return kit.el("p", { className: "mono" }, ids.slice(0, kit.data.max_listed).join(", ") + (ids.length > kit.data.max_listed ? ", \u2026" : ""));
  }
  // run.json's error estimate, and the ids of the incomplete instances in it
  function estimateOf(run) {
    const estimate = run.error_estimate || {};
    const gaps = estimate.incomplete && Array.isArray(estimate.incomplete.ids) ? estimate.incomplete.ids : [];
    return { estimate: estimate, gaps: gaps };
  }

  function cards(kit, cardsBox) {
    const el = kit.el, run = kit.run, grouped = kit.grouped, formatNumber = kit.formatNumber;
    function card(label, value, tone) {
      cardsBox.appendChild(el("div", { className: "card" + (tone ? " " + tone : "") }, [el("div", { className: "value" }, value), el("div", { className: "label" }, label)]));
    }
    if (run.exit_code !== undefined) card("exit code: " + (exitMeaning[run.exit_code] || "see README"), String(run.exit_code), run.exit_code === 0 ? null : (run.exit_code === 3 ? "warn" : "bad"));
    const counts = run.counts || {};
    for (const key in counts) {
      const value = counts[key];
      card(key.replace(/_/g, " "), typeof value === "number" ? grouped.format(value) : kit.plain(value),
           (key === "failed" || key === "skipped_files") && value > 0 ? "bad" : (key === "uninformative_baselines" && value > 0 ? "warn" : null));
    }
    if (!run.counts) card("rows in summary.csv", grouped.format(kit.rows));
    // the gates' own lists when --max-delta / --max-error were given, else the rows over 0.05
    function limitCards(name, worst, worstLabel, gateList) {
      if (typeof worst === "number") card(worstLabel + " (limit " + kit.limitText(name) + ")", formatNumber(worst), worst > kit.limitOf(name) ? "warn over" : null);
      const count = kit.limits[name] && kit.limits[name].option ? (Array.isArray(gateList) ? gateList.length : 0) : kit.overCount(name);
      if (count) card(name.replace(/_/g, " ") + " over " + kit.limitText(name), grouped.format(count), "warn over");
    }
    limitCards("relative_delta", run.max_relative_delta, "max relative delta", run.over_max_delta);
    const { estimate, gaps } = estimateOf(run);
    if (estimate.estimated) limitCards("error_estimate", estimate.max, "max error estimate (median " + formatNumber(estimate.median) + ")", estimate.over_max_error);
    if (gaps.length) card("incomplete: more steps will not fix", grouped.format(gaps.length), "bad over");
    if (run.stopped_early) card("stopped at the first failure (--fail-fast)", "yes", "bad");
  }

  function metricsPanel(kit) {
    const el = kit.el, run = kit.run;
    const means = Object.assign({}, kit.data.metric_means || {}), normalised = Object.keys(means).length > 0;
    for (const name in run.metrics) means[name + (normalised ? " (model units)" : "")] = run.metrics[name];
    return el("div", null, [el("h3", null, "Metrics (means)"), kvTable(kit, means), normalised ? el("p", { className: "note" },
      "_normalised: the curve's area with F(x) at 1 and F(x') at 0, comparable across runs and models; a faithful map has a low deletion and a high insertion.") : null]);
  }
  function adaptivePanel(kit) {
    const el = kit.el, adaptive = Object.assign({}, kit.run.adaptive);
    const histogram = adaptive.steps_histogram; delete adaptive.steps_histogram;
    const ids = adaptive.hit_max_steps_ids; delete adaptive.hit_max_steps_ids;
    const box = el("div", null, [el("h3", null, "--steps auto"), kvTable(kit, adaptive)]);
    if (histogram) box.appendChild(el("details", null, [el("summary", null, "instances by steps"), kvTable(kit, histogram)]));
    if (Array.isArray(ids) && ids.length) box.appendChild(el("details", null, [el("summary", null, ids.length + " instances stopped at --max-steps"), idList(kit, ids)]));
    return box;
  }
  function panels(kit, panelsBox) {
    const el = kit.el, run = kit.run, { estimate, gaps } = estimateOf(run);
    if (run.timings) panelsBox.appendChild(el("div", null, [el("h3", null, "Timings (seconds)"), kvTable(kit, run.timings)]));
    if (run.metrics) panelsBox.appendChild(metricsPanel(kit));
    if (run.adaptive) panelsBox.appendChild(adaptivePanel(kit));
    if (estimate.estimated === false && estimate.reason) panelsBox.appendChild(el("div", null, [el("h3", null, "Error estimate"), el("p", null, "None for this run: " + estimate.reason + ".")]));
    if (gaps.length) {
      panelsBox.appendChild(el("div", { className: "alarm" }, [el("h3", null, "Completeness gaps that more steps will not close"),
        el("p", null, gaps.length + " instance(s) whose attributions miss F(x) - F(x') by more than the quadrature explains: the model's gradients do not account for the change of its output (a non-differentiable or gradient-blocking operation, or a jump, along the path). Rows marked in the table (column incomplete)."),
        idList(kit, gaps)]));
    }
    const flat = run.uninformative_baselines;
    if (flat && Array.isArray(flat.ids) && flat.ids.length) {
      panelsBox.appendChild(el("div", null, [el("h3", null, "Uninformative baselines"),
        el("p", null, flat.ids.length + " instance(s) where |F(x) - F(x')| is under " + (100 * flat.share) + "% of |F(x)|: their attributions explain almost no change, and their relative deltas mean little (column uninformative_baseline)."),
        idList(kit, flat.ids)]));
    }
  }

  function details(kit, more) {
    const el = kit.el, run = kit.run;
    if (run.model) more.appendChild(el("details", null, [el("summary", null, "Model"), kvTable(kit, run.model)]));
    if (run.versions) more.appendChild(el("details", null, [el("summary", null, "Versions"), kvTable(kit, run.versions)]));
    if (run.configuration) more.appendChild(el("details", null, [el("summary", null, "Options as given"), kvTable(kit, run.configuration)]));
    if (Array.isArray(run.command)) more.appendChild(el("details", null, [el("summary", null, "Command"), el("p", { className: "command mono" }, run.command.join(" "))]));
  }

  return function (kit) {
    const el = kit.el, run = kit.run;
    const overview = kit.section("Run", "run");
    const cardsBox = overview.appendChild(el("div", { className: "cards" }));
    cards(kit, cardsBox);
    if (run.resolved) overview.appendChild(el("div", null, [el("h3", null, "Settings (resolved)"), pairs(kit, run.resolved)]));
    panels(kit, overview.appendChild(el("div", { className: "columns" })));
    details(kit, overview.appendChild(el("div")));
  };
})();
