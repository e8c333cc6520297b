/* eih_ml web app: checks fields before submitting (the server checks again), clear, CSV size.
   No inline script (the Content-Security-Policy allows only this file). */
(function () {
  "use strict";
  // The patterns come from the input contract (eih_ml/data/inputs.py), written into the page:
  // the form's data-number-pattern, each biomarker's data-pattern (its non-detect spellings).
  var NUMBER = null;
  var NONDETECT_EXAMPLES = "";

  function show(input, message) {
    var name = input.name;
    var box = document.getElementById("field-" + name);
    var err = document.getElementById("e-" + name);
    if (err) { err.textContent = message; }
    if (box) { box.classList.toggle("invalid", Boolean(message)); }
    if (message) {
      input.setAttribute("aria-invalid", "true");
      var d = input.closest("details");
      while (d) { d.open = true; d = d.parentElement ? d.parentElement.closest("details") : null; }
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function problem(input) {
    var text = input.value.trim();
    if (!text) { return ""; }
    var kind = input.dataset.kind;
    var range = input.dataset.range || "";
    var min = input.dataset.min !== undefined ? parseFloat(input.dataset.min) : null;
    var max = input.dataset.max !== undefined ? parseFloat(input.dataset.max) : null;
    if (kind === "number" || kind === "integer") {
      if (!NUMBER.test(text)) {
        var comma = /^-?\d+,\d+$/.test(text) ? " (use a decimal point)" : "";
        return "expected a number, " + range + "; found '" + text + "'" + comma;
      }
      var x = parseFloat(text);
      if ((min !== null && x < min) || (max !== null && x > max)) {
        return "expected " + range + "; found " + text;
      }
      if (kind === "integer" && Math.floor(x) !== x) {
        return "expected a whole number, " + range + "; found " + text;
      }
    } else if (kind === "biomarker") {
      var nondetect = new RegExp(input.dataset.pattern || "^$");
      var low = min !== null ? min : 0;
      if (NUMBER.test(text) ? parseFloat(text) < low : !nondetect.test(text)) {
        return "expected a concentration of " + low + " or more, or a value below the limit of " +
          "detection written as " + NONDETECT_EXAMPLES + "; found '" + text + "'";
      }
    }
    return "";
  }

  function setup() {
    var form = document.getElementById("patient-form");
    if (form) {
      NUMBER = new RegExp(form.dataset.numberPattern);
      NONDETECT_EXAMPLES = form.dataset.nondetectExamples;
      var inputs = form.querySelectorAll("input[data-kind]");
      form.addEventListener("submit", function (event) {
        var first = null;
        var n = 0;
        inputs.forEach(function (input) {
          var message = problem(input);
          show(input, message);
          if (message) { n += 1; if (!first) { first = input; } }
        });
        var summary = document.getElementById("client-errors");
        if (first) {
          event.preventDefault();
          if (summary) {  // an alert only while there is an error to announce
            summary.textContent = n + (n === 1 ? " field needs" : " fields need") +
              " attention (shown beside each field).";
            summary.setAttribute("role", "alert");
            summary.classList.remove("hidden");
          }
          first.focus();
          return;
        }
        if (summary) { summary.classList.add("hidden"); summary.removeAttribute("role"); }
        var button = document.getElementById("predict-button");
        if (button) { button.disabled = true; button.textContent = "Predicting…"; }
      });
      inputs.forEach(function (input) {
        input.addEventListener("input", function () { show(input, ""); });
      });
      var clear = document.getElementById("clear");
      if (clear) {
        clear.addEventListener("click", function () {
          form.querySelectorAll("input").forEach(function (i) { i.value = ""; show(i, ""); });
          form.querySelectorAll("select:not([name=confidence_level])").forEach(function (s) { s.selectedIndex = 0; show(s, ""); });
        });
      }
    }
    var csv = document.getElementById("csv-form");
    if (csv) {
      csv.addEventListener("submit", function (event) {
        var file = document.getElementById("csv-file");
        var err = document.getElementById("e-file");
        var limit = parseInt(file.dataset.maxBytes, 10);
        var message = "";
        if (!file.files || !file.files.length) {
          message = "expected a CSV file to upload; none was chosen";
        } else if (limit && file.files[0].size > limit) {
          message = "expected at most " + limit.toLocaleString("en") + " bytes; this file has " +
            file.files[0].size.toLocaleString("en") + ". Split it, or use 'eih-ml predict'.";
        }
        if (err) {
          err.textContent = message;
          if (message) { err.setAttribute("role", "alert"); } else { err.removeAttribute("role"); }
        }
        if (message) { event.preventDefault(); file.focus(); return; }
        var button = document.getElementById("csv-submit");
        if (button) { button.disabled = true; button.textContent = "Predicting…"; }
      });
    }
    var print = document.getElementById("print");
    if (print) { print.addEventListener("click", function () { window.print(); }); }
  }

  // Coming back to the page from the browser's history: make the buttons usable again.
  window.addEventListener("pageshow", function () {
    ["predict-button", "csv-submit"].forEach(function (id) {
      var b = document.getElementById(id);
      if (b && b.disabled) { b.disabled = false; b.textContent = id === "predict-button" ? "Predict" : "Predict the batch"; }
    });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
