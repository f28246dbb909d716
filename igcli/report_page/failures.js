"use strict";
// report.html's failures (run.json's errors, else the rows with status = error), grouped by message
// and listed one by one, and the skipped files. One of the files page.py joins into the page's one
// script, before report.js, which calls it with its helpers.
const igcliFailures = (function () {
  function errorsOf(kit) {
    if (Array.isArray(kit.run.errors)) return kit.run.errors;
    const errors = [];
    for (let i = 0; i < kit.rows; i++) if (kit.failed(i)) errors.push({ id: kit.idOf(i), source: kit.textAt("source", i), error: kit.textAt("error", i) });
    return errors;
  }

  // the kinds of failure: messages with the instance's own path taken out, most frequent first
  function kinds(kit, node, errors) {
    const el = kit.el, plain = kit.plain, grouped = kit.grouped;
    const counts = new Map();
    for (const item of errors) {
      const message = plain(item.error), source = plain(item.source);
      const kind = source && message.indexOf(source) >= 0 ? message.split(source).join("\u2026") : message;
      counts.set(kind, (counts.get(kind) || 0) + 1);
    }
    if (counts.size >= errors.length) return;
    const ranked = Array.from(counts.entries()).sort(function (a, b) { return b[1] - a[1]; });
    const body = el("tbody");
    for (const [kind, count] of ranked.slice(0, 10)) body.appendChild(el("tr", null, [el("td", { className: "count" }, grouped.format(count)), el("td", { className: "error" }, kind)]));
    node.appendChild(el("h3", null, "By message (the instance's path shown as \u2026)"));
    node.appendChild(el("table", { className: "list kinds" }, [el("thead", null, el("tr", null, [el("th", { className: "count" }, "instances"), el("th", null, "message")])), body]));
    if (ranked.length > 10) node.appendChild(el("p", { className: "note" }, grouped.format(ranked.length - 10) + " more kinds"));
    node.appendChild(el("h3", null, "Each failure"));
  }

  function failures(kit, errors) {
    const el = kit.el, plain = kit.plain, data = kit.data;
    const node = kit.section("Failures (" + kit.grouped.format(errors.length) + ")", "failures");
    kinds(kit, node, errors);
    const body = el("tbody");
    for (const item of errors.slice(0, data.max_listed)) {
      body.appendChild(el("tr", null, [el("td", { className: "mono" }, plain(item.id)), el("td", { className: "mono" }, plain(item.source)), el("td", { className: "error" }, plain(item.error))]));
    }
    node.appendChild(el("div", { className: "list-box" }, el("table", { className: "list" }, [el("thead", null, el("tr", null, [el("th", null, "id"), el("th", null, "source"), el("th", null, "error")])), body])));
    if (errors.length > data.max_listed) node.appendChild(el("p", { className: "note" }, "The first " + data.max_listed + " are listed; the table below filters every failure with status = error."));
  }

  function skippedFiles(kit, skipped) {
    const el = kit.el;
    const node = kit.section("Skipped files (" + kit.grouped.format(skipped.length) + ")", "skipped");
    const list = el("ul", { className: "mono" });
    for (const item of skipped.slice(0, kit.data.max_listed)) list.appendChild(el("li", null, kit.plain(item)));
    node.appendChild(list);
  }

  return function (kit) {
    const errors = errorsOf(kit);
    if (errors.length) failures(kit, errors);
    const skipped = Array.isArray(kit.run.skipped_files) ? kit.run.skipped_files : [];
    if (skipped.length) skippedFiles(kit, skipped);
  };
})();
