// The outlook page's script (package data; the page's security policy allows it by hash).
// It draws each figure's Vega-Lite specification with Vega-Embed (inlined before it) and
// marks the figure data-rendered="true" with the number of rows of the dataset Vega drew,
// so a headless browser can prove every chart was drawn from all of its data. Every
// error, rejected promise, policy violation and console warning is counted on
// <body data-errors>; <body data-ready> is set when every chart has settled.
(function () {
  "use strict";
  var body = document.body;
  var messages = [];
  function fail(message) {
    messages.push(String(message));
    body.setAttribute("data-errors", String(messages.length));
    body.setAttribute("data-error-messages", messages.join(" | "));
  }
  window.addEventListener("error", function (event) {
    fail(event.message || "error");
  });
  window.addEventListener("unhandledrejection", function (event) {
    fail("unhandled rejection: " + event.reason);
  });
  document.addEventListener("securitypolicyviolation", function (event) {
    fail("blocked by the page's security policy: " + event.violatedDirective);
  });
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      fail("console." + level + ": " + Array.prototype.join.call(arguments, " "));
      return original.apply(console, arguments);
    };
  });

  // The dataset every chart's specification names (tasks/outlook.py, DATASET).
  var DATASET = "drawn";
  var OPTIONS = {
    renderer: "svg",
    // Vega's expression interpreter instead of `new Function`: no 'unsafe-eval'.
    ast: true,
    // Export as SVG or PNG; no "view source" or online editor (nothing leaves the page).
    actions: { export: true, source: false, compiled: false, editor: false },
  };

  function draw(figure, spec) {
    var plot = figure.querySelector(".plot");
    return vegaEmbed(plot, spec, OPTIONS).then(function (result) {
      figure.setAttribute("data-rows", String(result.view.data(DATASET).length));
      figure.setAttribute("data-rendered", "true");
    }, function (error) {
      figure.setAttribute("data-rendered", "false");
      fail(figure.getAttribute("data-chart") + ": " + (error && error.message || error));
    });
  }

  function render() {
    var specs = JSON.parse(document.getElementById("outlook-specs").textContent);
    var figures = Array.prototype.slice.call(document.querySelectorAll("figure[data-chart]"));
    Promise.all(figures.map(function (figure) {
      var spec = specs[figure.getAttribute("data-chart")];
      if (!spec) {
        fail(figure.getAttribute("data-chart") + ": no specification");
        return null;
      }
      return draw(figure, spec);
    })).then(function () {
      body.setAttribute("data-ready", "true");
    });
  }
  if (typeof vegaEmbed !== "function") {
    fail("Vega-Embed is missing: the inlined bundle did not run");
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
