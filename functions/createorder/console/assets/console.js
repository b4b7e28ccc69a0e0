// wxpay console: the one script (CSP script-src 'self'; no inline scripts). It only
// asks for confirmation before actions that move money; every page works without it.
"use strict";
document.addEventListener("submit", function (e) {
  var f = e.target;
  var q = f && f.getAttribute("data-confirm");
  if (q && !window.confirm(q)) { e.preventDefault(); }
});
