/* cxray web app: draws the Plotly charts a page describes, in the layout that fits its width. */
(function () {
  "use strict";
  var charts = [];
  function draw(chart) {
    if (typeof Plotly === "undefined") { return; }
    var width = chart.div.clientWidth;
    var mode = chart.spec.narrow && width < chart.spec.minWidth ? "narrow" : "wide";
    if (mode === chart.mode) { return; }
    chart.mode = mode;
    var figure = chart.spec[mode];
    Plotly.react(chart.div, figure.data, figure.layout, chart.spec.config);
  }
  function collect() {
    document.querySelectorAll("script.chart-spec").forEach(function (node) {
      var div = document.getElementById(node.getAttribute("data-for"));
      if (div && !div.dataset.drawn) {
        div.dataset.drawn = "1";
        charts.push({div: div, spec: JSON.parse(node.textContent), mode: null});
      }
    });
    charts.forEach(draw);
  }
  window.cxrayCharts = {collect: collect};
  document.addEventListener("DOMContentLoaded", collect);
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { charts.forEach(function (c) { c.mode = null; draw(c); }); }, 150);
  });
})();
