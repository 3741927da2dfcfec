// zoo's catalogue pages: sortable, filterable tables in plain JavaScript, served by zoo itself.
// A table with class "sortable" sorts on a header click (numbers by the cell's data-value, rows without
// a value last); a form with data-filters="TABLE_ID" filters that table's rows as you type.
"use strict";

function cellKey(row, index) {
  const cell = row.cells[index];
  const value = cell.dataset.value;
  if (value === undefined) return cell.textContent.trim().toLowerCase();
  return value === "" ? null : parseFloat(value);
}

function sortTable(table, index, header) {
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const keyed = Array.from(body.rows, (row) => [cellKey(row, index), row]);
  keyed.sort((a, b) => {
    if (a[0] === null || b[0] === null) return (a[0] === null) - (b[0] === null);
    const order = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
    return ascending ? order : -order;
  });
  const fragment = document.createDocumentFragment();
  for (const [, row] of keyed) fragment.appendChild(row);
  body.appendChild(fragment);
  table.dispatchEvent(new Event("zoo:sorted"));
}

function makeSortable(table) {
  Array.from(table.tHead.rows[0].cells).forEach((header, index) => {
    header.tabIndex = 0;
    header.addEventListener("click", () => sortTable(table, index, header));
    header.addEventListener("keydown", (event) => {
      if (event.key === "Enter") sortTable(table, index, header);
    });
  });
}

// A table with data-limit="N" shows at most N matching rows until "show all" is pressed: laying out a
// thousand rows costs the browser far more than the filtering itself.
function makeFilter(form) {
  const table = document.getElementById(form.dataset.filters);
  const body = table.tBodies[0];
  const limit = parseInt(table.dataset.limit || "0", 10);
  const items = new Map(Array.from(body.rows, (row) => [row, {
    text: row.dataset.search || row.textContent.toLowerCase(),
    family: row.dataset.family || "",
    cached: row.dataset.cached === "yes",
    measured: row.dataset.measured === "yes",
  }]));
  const count = form.querySelector(".count");
  const more = form.querySelector("button.more");
  const field = (name) => form.elements.namedItem(name);
  let showAll = false;
  function apply() {
    const words = field("q").value.toLowerCase().split(/\s+/).filter(Boolean);
    const family = field("family") ? field("family").value : "";
    const cachedOnly = field("cached") && field("cached").checked;
    const measuredOnly = field("measured") && field("measured").checked;
    let matched = 0;
    let shown = 0;
    for (const row of body.rows) {
      const item = items.get(row);
      const keep = words.every((word) => item.text.includes(word))
        && (!family || item.family === family)
        && (!cachedOnly || item.cached)
        && (!measuredOnly || item.measured);
      matched += keep;
      const visible = keep && (showAll || !limit || matched <= limit);
      if (row.hidden === visible) row.hidden = !visible;
      shown += visible;
    }
    if (count) {
      count.textContent = shown === matched
        ? `${shown} of ${items.size} models`
        : `the first ${shown} of ${matched} matching models (${items.size} in all)`;
    }
    if (more) more.hidden = shown === matched;
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", (event) => event.preventDefault());
  table.addEventListener("zoo:sorted", apply);
  if (more) {
    more.addEventListener("click", () => {
      showAll = true;
      apply();
    });
  }
  const query = new URLSearchParams(window.location.search).get("q");
  if (query) field("q").value = query;
  apply();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("form[data-filters]").forEach(makeFilter);
});
