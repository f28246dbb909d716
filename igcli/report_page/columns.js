"use strict";
// report.html's columns: data.columns (igcli/report_page/data.py) decoded into column objects, and
// the orders the table and the gallery sort rows in. One of the files page.py joins into the page's
// one script, before report.js, which calls igcliColumns.decode and igcliColumns.ordering.
const igcliColumns = (function () {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  // each column as { name, kind, empty, text(i), full(i) } with numbers (a Float64Array, NaN for
  // empty cells), dictionary and codes (repeated text), or values (other text)
  function decode(data, formatNumber) {
    const rows = data.rows;
    return data.columns.map(function (column) {
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
  }

  // a numeric key per row that orders a text column: ranks of the distinct values (NaN for empty)
  function textKeys(rows, column) {
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
    return keys;
  }

  // the ordering helpers over `rows` rows
  function ordering(rows) {
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
    // a numeric key per row for any column, a text column's computed once
    function sortKeys(column) {
      if (column.numbers) return column.numbers;
      if (column.keys) return column.keys;
      column.keys = textKeys(rows, column);
      return column.keys;
    }
    return { sortedBy: sortedBy, sortKeys: sortKeys };
  }

  return { decode: decode, ordering: ordering };
})();
