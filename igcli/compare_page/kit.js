"use strict";
// compare.html's helpers: DOM building (text goes in with textContent, never as markup), number
// formatting, sections, cards and file URLs. One of the files page.py joins into the page's one
// script, before compare.js, which calls igcliKit and hands the kit to the other files' functions.
function igcliKit(data) {
  const problems = document.getElementById("problems");
  const dom = igcliDom();  // dom.js
  const el = dom.el, append = dom.append, svg = dom.svg;
  function problem(message) {
    problems.appendChild(el("p", { className: "problem" }, message));
  }
  function section(title, id) {
    const node = el("section", { id: id });
    node.appendChild(el("h2", null, title));
    document.getElementById("main").appendChild(node);
    return node;
  }
  // a URL relative to this page for a path relative to DIFF ("../run/heatmaps/<id>.png"), one
  // encoded segment each, so that an id with # ? % or : stays part of the file's name
  function fileUrl(path) {
    return String(path).split("/").map(function (part) { return part === ".." ? part : encodeURIComponent(part); }).join("/");
  }
  // a card: a big value over a label; kind "bad" or "warn" highlights it
  function card(value, label, kind, title) {
    const node = el("div", { className: "card" + (kind ? " " + kind : "") }, [el("div", { className: "value" }, value), el("div", { className: "label" }, label)]);
    if (title) node.title = title;
    return node;
  }
  const grouped = new Intl.NumberFormat("en-US");
  const record = data.record || {};
  return {
    data: data, record: record, el: el, append: append, svg: svg, problem: problem, section: section, formatNumber: igcliFormatNumber,
    plain: igcliPlain, fileUrl: fileUrl, card: card, grouped: grouped, thresholds: record.thresholds || {}, counts: record.counts || {},
  };
}
