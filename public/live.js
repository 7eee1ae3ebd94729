// Build Factory: live pages. A page whose <main> carries data-live follows GET /events
// (one stream per tab) and, when a topic it shows changes, fetches its own server-rendered
// <main> and swaps it in. Pages work without this script: a running release's page then
// reloads itself by its Refresh header. docs/live.md says how the stream behaves.
(function () {
  "use strict";
  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var topics = main.getAttribute("data-live").split(" ");
  var lastId = main.getAttribute("data-live-since") || "";
  var source = null;
  var failures = 0;
  var reconnectTimer = 0;
  var pollTimer = 0;
  var loading = false;
  var again = false;

  // Tells the server this tab follows the stream, so it leaves out the Refresh header.
  function markLive() {
    document.cookie = "factory_live=1; path=/; max-age=900; samesite=strict";
  }

  // A person typing in a form on the page: the swap waits until they leave the field.
  function typing() {
    var el = document.activeElement;
    return !!el && main.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
  }

  function swap(next) {
    var open = {};
    main.querySelectorAll("details[open] > summary").forEach(function (s) {
      open[s.textContent] = true;
    });
    main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes));
    main.querySelectorAll("details > summary").forEach(function (s) {
      if (open[s.textContent]) s.parentNode.open = true;
    });
    var live = next.getAttribute("data-live");
    if (live) topics = live.split(" ");
  }

  function refresh() {
    if (loading || typing()) {
      again = true;
      return;
    }
    loading = true;
    again = false;
    fetch(location.href, {
      headers: { "X-Live-Fragment": "1" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        // Signed out meanwhile: the whole page (the sign-in form) is the answer.
        if (response.redirected) location.reload();
        if (!response.ok || response.headers.get("X-Live-Fragment") !== "1") return null;
        return response.text();
      })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.querySelector("main");
        if (next) swap(next);
      })
      .catch(function () {})
      .then(function () {
        loading = false;
        if (again) setTimeout(refresh, 250);
      });
  }

  function startPolling() {
    if (!pollTimer) pollTimer = setInterval(refresh, 10000);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = 0;
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (source || document.hidden) return;
    markLive();
    source = new EventSource("/events?last_event_id=" + encodeURIComponent(lastId));
    source.onopen = function () {
      failures = 0;
      stopPolling();
    };
    source.addEventListener("change", function (event) {
      if (event.lastEventId) lastId = event.lastEventId;
      var changed = [];
      try {
        changed = JSON.parse(event.data).topics || [];
      } catch (e) {
        changed = topics;
      }
      if (changed.some(function (t) { return topics.indexOf(t) >= 0; })) refresh();
    });
    // The browser would retry at once, for ever: this tab backs off instead (2 s, 4 s,
    // … up to a minute, spread at random) and polls the page meanwhile after three.
    source.onerror = function () {
      close();
      failures += 1;
      if (failures >= 3) startPolling();
      var wait = Math.min(60000, 1000 * Math.pow(2, failures)) * (0.5 + Math.random());
      reconnectTimer = setTimeout(connect, wait);
    };
  }

  function pause() {
    close();
    stopPolling();
    clearTimeout(reconnectTimer);
  }

  // A hidden tab holds no stream (phones drop them anyway); shown again, it resumes from
  // the last event it heard and catches up at once.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) pause();
    else connect();
  });
  window.addEventListener("pagehide", pause);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) connect();
  });
  main.addEventListener("focusout", function () {
    if (again) setTimeout(refresh, 0);
  });
  connect();
})();
