/* AdvLab report: the epsilon explorers. Plain JavaScript, no dependency, no network: every number and
   image is in the page (the JSON in #explorer-data, built by advlab/explorer.py). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var THREAT_WORDS = {whitebox: "white-box", transfer: "transfer (crafted on the baseline)"};
  var source = document.getElementById("explorer-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);

  function pct(a) { return (100 * a).toFixed(1) + "%"; }
  function label(m) { return data.modelLabels[m] || m; }
  function nearest(list, value) {
    var best = 0;
    for (var i = 1; i < list.length; i++) {
      if (Math.abs(list[i] - value) < Math.abs(list[best] - value)) { best = i; }
    }
    return best;
  }
  function el(tag, attrs, parent, ns) {
    var node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  /* The accuracy curve (with its Wilson band) and a marker at the chosen eps. */
  function drawCurve(svg, v, i) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var W = 340, H = 210, L = 50, R = 12, T = 12, B = 36;
    var xmax = Math.max(v.eps[v.eps.length - 1], 1e-9);
    function x(e) { return L + (W - L - R) * e / xmax; }
    function y(a) { return T + (H - T - B) * (1 - a); }
    [0, 0.25, 0.5, 0.75, 1].forEach(function (a) {
      el("line", {x1: L, x2: W - R, y1: y(a), y2: y(a), "class": "grid"}, svg, SVG);
      el("text", {x: L - 6, y: y(a) + 4, "text-anchor": "end"}, svg, SVG).textContent = 100 * a + "%";
    });
    v.eps.forEach(function (e) {
      el("text", {x: x(e), y: H - B + 15, "text-anchor": "middle"}, svg, SVG).textContent = String(+e.toFixed(2));
    });
    el("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle"}, svg, SVG).textContent = "epsilon";
    el("text", {x: 10, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 10 " + (T + H - B) / 2 + ")"},
       svg, SVG).textContent = "accuracy";
    if (v.lo) {
      var band = v.eps.map(function (e, k) { return x(e) + "," + y(v.hi[k]); });
      for (var k = v.eps.length - 1; k >= 0; k--) { band.push(x(v.eps[k]) + "," + y(v.lo[k])); }
      el("polygon", {points: band.join(" "), "class": "band"}, svg, SVG);
    }
    el("polyline", {points: v.eps.map(function (e, k) { return x(e) + "," + y(v.acc[k]); }).join(" "),
                    "class": "curve"}, svg, SVG);
    el("line", {x1: x(v.eps[i]), x2: x(v.eps[i]), y1: T, y2: H - B, "class": "cursor"}, svg, SVG);
    el("circle", {cx: x(v.eps[i]), cy: y(v.acc[i]), r: 6, "class": "marker"}, svg, SVG);
  }

  function drawImages(box, v, i, attack) {
    while (box.firstChild) { box.removeChild(box.firstChild); }
    if (!v.images || !data.images[v.images]) {
      el("p", {"class": "muted"}, box).textContent =
        "Images not available: this model was not in the cache when the report was built (rerun its notebook).";
      return;
    }
    data.images[v.images][i].forEach(function (uri, k) {
      var truth = data.labels[k], pred = v.preds[i][k];
      var fig = el("figure", {"class": pred === truth ? "right" : "wrong"}, box);
      el("img", {src: uri, width: 84, height: 84,
                 alt: "test image " + (k + 1) + " (a " + truth + ") under " + attack.toUpperCase() +
                      " at eps " + v.eps[i].toFixed(2) + ", predicted " + pred}, fig);
      var caption = el("figcaption", {}, fig);
      caption.textContent = "predicted " + pred;
      el("span", {"class": "truth"}, caption).textContent = "true " + truth;
    });
  }

  function setup(root) {
    var cfg = JSON.parse(root.getAttribute("data-config"));
    function q(c) { return root.querySelector(c); }
    var menus = {model: q(".ex-model"), attack: q(".ex-attack"), threat: q(".ex-threat")};
    var slider = q(".ex-eps"), shown = q(".ex-eps-value"), readout = q(".ex-readout");
    var images = q(".ex-images"), svg = q(".ex-curve");
    var eps = cfg.start.eps;
    function key() { return menus.model.value + "|" + menus.attack.value + "|" + menus.threat.value; }

    function draw() {
      var v = data.views[key()];
      if (!v) {
        readout.textContent = label(menus.model.value) + " under " + menus.attack.value.toUpperCase() + ", " +
          THREAT_WORDS[menus.threat.value] + ": not recorded in this run.";
        while (images.firstChild) { images.removeChild(images.firstChild); }
        while (svg.firstChild) { svg.removeChild(svg.firstChild); }
        return;
      }
      slider.max = String(v.eps.length - 1);
      var i = Math.min(Number(slider.value), v.eps.length - 1);
      eps = v.eps[i];
      shown.textContent = eps.toFixed(2);
      slider.setAttribute("aria-valuetext", "epsilon " + eps.toFixed(2));
      var text = label(menus.model.value) + " under " + menus.attack.value.toUpperCase() + ", " +
        THREAT_WORDS[menus.threat.value] + ", eps " + eps.toFixed(2) + ": accuracy " + pct(v.acc[i]);
      if (v.lo) { text += " (95% Wilson interval " + pct(v.lo[i]) + " to " + pct(v.hi[i]) + ")"; }
      if (v.n_images) { text += " on " + v.n_images + " test images"; }
      readout.textContent = text + ".";
      drawImages(images, v, i, menus.attack.value);
      drawCurve(svg, v, i);
    }
    function jump() {   /* a new view: keep the eps closest to the one shown */
      var v = data.views[key()];
      if (v) { slider.max = String(v.eps.length - 1); slider.value = String(nearest(v.eps, eps)); }
      draw();
    }

    menus.model.value = cfg.start.model;
    menus.attack.value = cfg.start.attack;
    menus.threat.value = cfg.start.threat;
    Object.keys(menus).forEach(function (m) { menus[m].addEventListener("change", jump); });
    slider.addEventListener("input", draw);
    jump();
    root.classList.add("ready");
  }

  Array.prototype.forEach.call(document.querySelectorAll(".explorer"), setup);
})();
