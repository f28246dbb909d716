"use strict";
// The pages' DOM helpers (report.html, and compare.html, which joins this file too): elements
// built with their text as textContent, never as markup, so a hostile id stays text.
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
