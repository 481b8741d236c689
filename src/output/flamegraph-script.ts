// The script embedded in the flame graph SVG (flamegraph-svg.ts). Plain ES5-ish browser code in a
// string: it must not contain the CDATA terminator. It reads each frame's position in sample units
// from data attributes, so zooming is a pure re-layout (no original coordinates to save/restore).
//
//   click a frame          zoom: the frame spans the full width, its ancestors stay (faded)
//   click a faded ancestor zoom out to it; "Reset Zoom" (top left) zooms out fully
//   Search (top right), Ctrl-F or "/"   highlight frames matching a regular expression and show the
//                          share of sampled time under them; Escape or "Reset Search" clears it
//   hover                  the details line shows name, samples, time and share (also a native tooltip)
export const FLAMEGRAPH_SCRIPT = String.raw`
"use strict";
(function () {
  var svg = document.documentElement;
  var total = Number(svg.getAttribute("data-total")) || 1;
  var xpad = Number(svg.getAttribute("data-xpad"));
  var width = Number(svg.getAttribute("width"));
  var details = document.getElementById("details");
  var matched = document.getElementById("matched");
  var unzoomBtn = document.getElementById("unzoom");
  var searchBtn = document.getElementById("search");
  var HIGHLIGHT = "rgb(230,0,230)";
  var frames = [];
  var nodes = document.querySelectorAll("g.f");
  for (var i = 0; i < nodes.length; i++) {
    var g = nodes[i];
    var rect = g.querySelector("rect");
    var f = {
      g: g, rect: rect, text: g.querySelector("text"), title: g.querySelector("title"),
      x: Number(g.getAttribute("data-x")), w: Number(g.getAttribute("data-w")), d: Number(g.getAttribute("data-d")),
      name: g.getAttribute("data-n"), fill: rect.getAttribute("fill")
    };
    g.__frame = f;
    frames.push(f);
  }
  var view = { x: 0, w: total, d: 0 };
  var term = null;

  // Width of one character of the frame font (monospace), measured once.
  var charW = (function () {
    var probe = "abcdefghijklmnopqrstuvwxyz_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    var t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("class", "probe");
    t.textContent = probe;
    var holder = document.getElementById("frames") || svg;
    holder.appendChild(t);
    var w = 0;
    try { w = t.getComputedTextLength() / probe.length; } catch (e) { w = 0; }
    holder.removeChild(t);
    return w > 0 ? w : 7.2;
  })();

  function fitText(f, px) {
    var avail = px - 6;
    if (avail < charW * 3) { f.text.textContent = ""; return; }
    var max = Math.floor(avail / charW);
    var s = f.name.length <= max ? f.name : f.name.slice(0, Math.max(1, max - 2)) + "..";
    f.text.textContent = s;
    while (s.length > 3 && f.text.getComputedTextLength() > avail) {
      s = s.slice(0, s.length - 3) + "..";
      f.text.textContent = s;
    }
    if (f.text.getComputedTextLength() > avail) f.text.textContent = "";
  }

  function layout() {
    var scale = (width - 2 * xpad) / view.w;
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      var inside = f.d >= view.d && f.x >= view.x && f.x + f.w <= view.x + view.w;
      var ancestor = f.d < view.d && f.x <= view.x && f.x + f.w >= view.x + view.w;
      var x, w;
      if (ancestor) { x = xpad; w = width - 2 * xpad; }
      else { x = xpad + (f.x - view.x) * scale; w = f.w * scale; }
      if ((!inside && !ancestor) || w < 0.1) { f.g.style.display = "none"; continue; }
      f.g.style.display = "";
      f.g.classList.toggle("anc", ancestor);
      f.rect.setAttribute("x", x.toFixed(2));
      f.rect.setAttribute("width", w.toFixed(2));
      f.text.setAttribute("x", (x + 3).toFixed(2));
      fitText(f, w);
    }
    unzoomBtn.classList.toggle("off", view.d === 0 && view.x === 0 && view.w === total);
  }

  function zoom(f) {
    if (f.d === 0 || (f.x === view.x && f.w === view.w && f.d === view.d)) { unzoom(); return; }
    view = { x: f.x, w: f.w, d: f.d };
    layout();
  }
  function unzoom() { view = { x: 0, w: total, d: 0 }; layout(); }

  function percent(n) { return (100 * n / total).toFixed(2) + "%"; }

  function search(t) {
    var re = null;
    try { re = new RegExp(t); } catch (e) { re = null; }
    var spans = [];
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      var hit = f.d > 0 && (re ? re.test(f.name) : f.name.indexOf(t) >= 0);
      f.rect.setAttribute("fill", hit ? HIGHLIGHT : f.fill);
      f.g.classList.toggle("match", hit);
      if (hit) spans.push([f.x, f.x + f.w]);
    }
    // Share of sampled time under any match: the union of the matching x ranges (nested matches once).
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    for (var j = 0; j < spans.length; j++) {
      var s = spans[j];
      if (s[1] <= end) continue;
      covered += s[1] - Math.max(s[0], end);
      end = s[1];
    }
    term = t;
    matched.textContent = "Matched: " + percent(covered) + " (" + t + ")";
    matched.classList.remove("off");
    searchBtn.textContent = "Reset Search";
  }

  function resetSearch() {
    for (var i = 0; i < frames.length; i++) {
      frames[i].rect.setAttribute("fill", frames[i].fill);
      frames[i].g.classList.remove("match");
    }
    term = null;
    matched.textContent = "";
    matched.classList.add("off");
    searchBtn.textContent = "Search";
  }

  function askSearch() {
    var t = window.prompt("Search for (regular expression):", term === null ? "" : term);
    if (t) search(t);
  }

  function frameOf(target) {
    var g = target && target.closest ? target.closest("g.f") : null;
    return g ? g.__frame : null;
  }

  svg.addEventListener("click", function (e) {
    if (e.target.closest("#unzoom")) { unzoom(); return; }
    if (e.target.closest("#search")) { if (term === null) askSearch(); else resetSearch(); return; }
    var f = frameOf(e.target);
    if (f) zoom(f);
  });
  svg.addEventListener("mouseover", function (e) {
    var f = frameOf(e.target);
    if (f) details.textContent = f.title.textContent;
  });
  svg.addEventListener("mouseout", function (e) {
    if (frameOf(e.target)) details.textContent = " ";
  });
  window.addEventListener("keydown", function (e) {
    if ((e.key === "f" && (e.ctrlKey || e.metaKey)) || e.key === "/" || e.key === "F3") { e.preventDefault(); askSearch(); }
    else if (e.key === "Escape") { resetSearch(); unzoom(); }
  });

  layout();
  window.flamegraph = { search: search, resetSearch: resetSearch, unzoom: unzoom };
})();
`;
