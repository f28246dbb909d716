"use strict";
// What the two pages share (report.html, and compare.html, which joins this file too): elements
// built with their text as textContent, never as markup, so a hostile id stays text; numbers and
// values as the pages show them.
function igcliDom() {
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
  return { el: el, append: append, svg: svg };
}

// a number as the page shows it: short, without trailing zeros; empty for null and NaN
function igcliFormatNumber(value) {
  if (value === null || value === undefined || value !== value) return "";
  if (typeof value !== "number") return String(value);
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const size = Math.abs(value);
  if (size >= 1000 && size < 1e9) return value.toFixed(1);
  const exponential = size < 1e-3 || size >= 1e9;
  const short = exponential ? value.toExponential(3).replace("e+", "e") : value.toPrecision(4);
  const trimmed = short.replace(/\.?0+(?=e|$)/, "");
  return short.indexOf(".") >= 0 && Number(trimmed) === value ? trimmed : short;
}
function igcliPlain(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}
