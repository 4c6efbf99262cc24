/* Draws each table's chart with the vendored ECharts, from the same rows as the table. */
(function () {
  "use strict";
  var FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", sans-serif';
  function label(columns, key) {
    for (var i = 0; i < columns.length; i++) { if (columns[i][0] === key) return columns[i][1]; }
    return key;
  }
  function option(spec) {
    var c = spec.chart, rows = spec.rows;
    var base = { textStyle: { fontFamily: FONT }, tooltip: { trigger: c.type === "pie" ? "item" : "axis" },
                 legend: { top: 0, textStyle: { fontFamily: FONT } }, animation: false };
    if (c.type === "pie") {
      base.series = [{ type: "pie", radius: ["35%", "65%"], top: 24,
        data: rows.map(function (r) { return { name: r[c.x], value: r[c.series[0]] }; }) }];
      return base;
    }
    if (c.type === "funnel") {
      var totals = c.series.map(function (k) {
        return { name: label(spec.columns, k), value: rows.reduce(function (s, r) { return s + (r[k] || 0); }, 0) };
      });
      base.series = [{ type: "funnel", sort: "none", top: 30, bottom: 10, data: totals,
                       label: { formatter: "{b}: {c}", fontFamily: FONT } }];
      return base;
    }
    base.grid = { left: 48, right: 16, top: 32 + 22 * Math.ceil(c.series.length / 6), bottom: 48 };
    base.xAxis = { type: "category", data: rows.map(function (r) { return r[c.x]; }),
                   axisLabel: { fontFamily: FONT, rotate: rows.length > 8 ? 30 : 0 } };
    base.yAxis = { type: "value" };
    base.series = c.series.map(function (k) {
      return { name: label(spec.columns, k), type: c.type, stack: c.stack ? "all" : undefined,
               data: rows.map(function (r) { return r[k]; }) };
    });
    return base;
  }
  function draw() {
    var specs = JSON.parse(document.getElementById("charts").textContent || "[]");
    specs.forEach(function (spec) {
      var el = document.getElementById("chart-" + spec.key);
      if (!el || !window.echarts) return;
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(spec));
      window.addEventListener("resize", function () { chart.resize(); });
    });
    document.body.setAttribute("data-charts", "ready");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
