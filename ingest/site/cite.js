// Khronika: the citation block for a passage selected in a source's extracted text.
// This script runs on Khronika's own text page only; archived copies are served script-free.
(function () {
  "use strict";
  var text = document.getElementById("source-text");
  var box = document.getElementById("citation");
  var block = document.getElementById("citation-block");
  var note = document.getElementById("citation-note");
  var copy = document.getElementById("citation-copy");
  if (!text || !box || !block) { return; }

  function offset(node, off) {
    var range = document.createRange();
    range.setStart(text, 0);
    range.setEnd(node, off);
    return Array.from(range.toString()).length; // code points, as the archive counts characters
  }

  var last = "";
  function show() {
    var sel = window.getSelection();
    if (!sel || !sel.rangeCount || sel.isCollapsed) { return; }
    var r = sel.getRangeAt(0);
    if (!text.contains(r.startContainer) || !text.contains(r.endContainer)) { return; }
    var start = offset(r.startContainer, r.startOffset);
    var end = offset(r.endContainer, r.endOffset);
    var key = start + ":" + end;
    if (key === last) { return; }
    last = key;
    var url = text.getAttribute("data-cite") + "?start=" + start + "&end=" + end +
      "&selected=" + encodeURIComponent(r.toString().slice(0, 5000));
    fetch(url, { headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.json(); })
      .then(function (data) {
        block.textContent = data.block || "";
        note.textContent = data.note || "";
        box.hidden = false;
        box.setAttribute("data-state", data.block ? "anchored" : "refused");
        if (copy) { copy.hidden = !data.block; }
      });
  }
  document.addEventListener("mouseup", show);
  document.addEventListener("keyup", show);
  if (copy) {
    copy.addEventListener("click", function () {
      if (navigator.clipboard) { navigator.clipboard.writeText(block.textContent); }
    });
  }
})();
