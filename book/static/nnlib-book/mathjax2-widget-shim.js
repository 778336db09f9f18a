/* ipywidgets' HTML manager (@jupyter-widgets/html-manager 1.x) typesets widget labels with the
 * MathJax 2 API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]). The book loads MathJax 3,
 * which has no MathJax.Hub: every widget label would throw "reading 'Queue'" and stay untypeset.
 * This file (loaded with defer, right after MathJax 3) maps that one call onto MathJax 3. */
(function () {
  "use strict";
  var mj = window.MathJax;
  if (!mj || mj.Hub || !mj.startup) {
    return; // no MathJax 3 on this page, or a real MathJax 2
  }
  function typeset(element) {
    mj.startup.promise
      .then(function () { return mj.typesetPromise([element]); })
      .catch(function (err) { console.warn("MathJax could not typeset a widget label:", err); });
  }
  mj.Hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
          typeset(job[2]);
        }
      }
    }
  };
})();
