// Petrel web mail: what scripts add to pages that work without them.
// Live updates (Server-Sent Events from /events: unread counts, the title,
// the message list of the folder shown) and keyboard shortcuts.
"use strict";
(function () {
  var body = document.body;
  if (!body || !body.dataset.live) return;
  var current = body.dataset.current;
  var baseTitle = body.dataset.title || "";

  function setTitle(unread) {
    document.title = (unread > 0 ? "(" + unread + ") " : "") + baseTitle + " – Petrel";
  }

  function refreshList() {
    var list = document.getElementById("msglist");
    if (!list || list.querySelector("input[type=checkbox]:checked")) return;
    fetch(location.href, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("msglist");
      var now = document.getElementById("msglist");
      if (fresh && now && !now.querySelector("input[type=checkbox]:checked")) {
        now.replaceWith(document.importNode(fresh, true));
        var h = doc.querySelector("main h1"), cur = document.querySelector("main h1");
        if (h && cur) cur.replaceWith(document.importNode(h, true));
      }
    }).catch(function () {});
  }

  if (window.EventSource) {
    var es = new EventSource("/events");
    es.addEventListener("open", function () { body.dataset.connected = "1"; });
    es.addEventListener("counts", function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      setTitle(ev.unread);
      Object.keys(ev.folders || {}).forEach(function (id) {
        var el = document.querySelector('[data-count="' + id + '"]');
        if (el) el.textContent = ev.folders[id][0] > 0 ? " " + ev.folders[id][0] : "";
      });
      if ((ev.changed || []).map(String).indexOf(current) >= 0) refreshList();
    });
  }

  // Keyboard shortcuts: j/k move in the list, o or Enter opens, x selects;
  // elsewhere a key opens what carries data-key (r reply, a reply all,
  // f forward, s flag, y archive, # delete, u back, c write, n/p pages);
  // ? shows the list of them (details#keys, on every page).
  var cursor = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("table.messages tbody tr[data-uid]")); }
  function move(d) {
    var rs = rows();
    if (!rs.length) return;
    if (cursor >= 0 && rs[cursor]) rs[cursor].classList.remove("current");
    cursor = Math.max(0, Math.min(rs.length - 1, cursor + d));
    rs[cursor].classList.add("current");
    rs[cursor].scrollIntoView({ block: "nearest" });
    // Focus its link, so that a screen reader reads the message moved to.
    var a = rs[cursor].querySelector("td.subject a");
    if (a) a.focus({ preventScroll: true });
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var rs = rows();
    // A row's link focused (by j/k, or Tab) makes that row the cursor.
    if (t && t.tagName === "A" && t.closest) {
      var tr = t.closest("tr[data-uid]");
      if (tr) cursor = rs.indexOf(tr);
    }
    if (e.key === "j") { move(1); return; }
    if (e.key === "k") { move(-1); return; }
    if (e.key === "Enter" && t && t.tagName === "A") return; // the link itself
    if ((e.key === "o" || e.key === "Enter") && rs[cursor]) { rs[cursor].querySelector("a").click(); return; }
    if (e.key === "x" && rs[cursor]) { var cb = rs[cursor].querySelector("input[type=checkbox]"); cb.checked = !cb.checked; return; }
    if (e.key === "?") {
      var keys = document.getElementById("keys");
      if (keys) { e.preventDefault(); keys.open = !keys.open; if (keys.open) keys.querySelector("summary").focus(); }
      return;
    }
    if (e.key === "/") { var q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); } return; }
    var el = document.querySelector('[data-key="' + (e.key === '"' ? '\\"' : e.key) + '"]');
    if (el) { e.preventDefault(); el.click(); }
  });
})();
