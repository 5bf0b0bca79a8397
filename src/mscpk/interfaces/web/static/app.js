// mscpk web app: progress polling and the interactive result figures (Plotly, served locally).
"use strict";
var mscpk = (function () {
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error(url + ": " + r.status); } return r.json(); });
  }

  // Poll a queued or running run; reload the page when it is done or failed.
  function poll(id) {
    var bar = document.getElementById("progress");
    var msg = document.getElementById("progress-message");
    var status = document.getElementById("status");
    function tick() {
      getJSON("/api/runs/" + id).then(function (run) {
        status.textContent = run.status;
        if (bar) { bar.value = run.progress || 0; }
        if (msg) { msg.textContent = run.message || ""; }
        if (run.status === "done" || run.status === "failed") { window.location.reload(); }
        else { window.setTimeout(tick, 700); }
      }).catch(function () { window.setTimeout(tick, 2000); });
    }
    window.setTimeout(tick, 300);
  }

  // Organ time courses (live solid, dead dashed, log scale) and a heat map of % of dose alive.
  function plotRun(id) {
    getJSON("/api/runs/" + id + "/timecourses").then(function (d) {
      var t = d.times_h, traces = [], names = Object.keys(d.sites);
      var dose = Math.max.apply(null, d.administered.map(function (x) { return x || 0; })) || 1;
      var floor = 1e-5 * dose;
      var shown = names.filter(function (s) {
        return Math.max.apply(null, d.sites[s].live.concat(d.sites[s].dead).map(function (x) { return x || 0; })) > floor;
      });
      shown.forEach(function (s, i) {
        var colour = "hsl(" + Math.round(360 * i / shown.length) + ",65%,42%)";
        var clip = function (v) { return v.map(function (x) { return x > floor ? x : null; }); };
        traces.push({x: t, y: clip(d.sites[s].live), name: s + " live", legendgroup: s,
                     line: {color: colour}, mode: "lines"});
        if (d.sites[s].dead.length) {
          traces.push({x: t, y: clip(d.sites[s].dead), name: s + " dead", legendgroup: s,
                       line: {color: colour, dash: "dash"}, mode: "lines", visible: "legendonly"});
        }
      });
      var logx = document.getElementById("logx");
      var xtype = logx && logx.checked ? "log" : "linear";
      var layout = {title: {text: "Cells per site (live solid; dead dashed, click the legend)"},
                    xaxis: {title: {text: "time [h]"}, type: xtype}, yaxis: {title: {text: "cells [cell equivalents]"}, type: "log"},
                    height: 520, margin: {t: 50}};
      Plotly.newPlot("timecourses", traces, layout, {responsive: true});
      var z = shown.map(function (s) {
        return d.sites[s].live.map(function (x, j) {
          var given = d.administered[j] || 0;
          return given > 0 && x > 0 ? Math.log10(Math.max(100 * x / given, 1e-4)) : null;
        });
      });
      Plotly.newPlot("heatmap", [{type: "heatmap", x: t, y: shown, z: z, colorscale: "Viridis", zmin: -4, zmax: 2,
        colorbar: {title: {text: "% of dose"}, tickvals: [-4, -2, 0, 2], ticktext: ["1e-4", "0.01", "1", "100"]},
        hovertemplate: "%{y} at %{x} h: 10^%{z:.2f} % of dose<extra></extra>"}],
        {title: {text: "Live cells, % of the dose given so far (log colour)"}, xaxis: {title: {text: "time [h]"}, type: xtype},
         height: 420, margin: {t: 50, l: 110}}, {responsive: true});
      if (logx) {
        logx.addEventListener("change", function () {
          var type = logx.checked ? "log" : "linear";
          Plotly.relayout("timecourses", {"xaxis.type": type});
          Plotly.relayout("heatmap", {"xaxis.type": type});
        });
      }
      document.getElementById("timecourses").setAttribute("data-ready", "true");
    });
  }

  return {poll: poll, plotRun: plotRun};
})();
