// The Organization Center's only script: copy buttons and confirmations of removals. Every
// page works without it (the values to copy are shown, and removals are plain forms).
"use strict";
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b || !navigator.clipboard) return;
  navigator.clipboard.writeText(b.dataset.copy).then(function () {
    if (b.dataset.copied) b.textContent = b.dataset.copied;
  });
});
document.addEventListener("submit", function (e) {
  var f = e.target;
  if (f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) e.preventDefault();
});
