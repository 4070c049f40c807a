"use strict";
// The Local Guide page: opens /stream with EventSource and shows the answer as it arrives.
// Everything from the network is inserted with textContent, never parsed as HTML.
(() => {
  const byId = (id) => document.getElementById(id);
  const answer = byId("answer");
  const status = byId("status");
  const error = byId("error");
  const facts = {
    region: byId("region"),
    location: byId("location"),
    first: byId("first"),
    complete: byId("complete"),
  };
  const UNAVAILABLE =
    "The guide is unavailable or busy right now. Please try again in a few seconds.";
  let source = null;

  const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);
  const text = (value) => (typeof value === "string" && value.trim() ? value : null);
  const parse = (data) => {
    try {
      const value = JSON.parse(data);
      return value && typeof value === "object" ? value : null;
    } catch {
      return null;
    }
  };
  const sentence = (value) => value.charAt(0).toUpperCase() + value.slice(1).replace(/\.?$/, ".");

  function fact(name, value, pending = false) {
    facts[name].textContent = value;
    facts[name].classList.toggle("pending", pending);
  }

  function finish(state) {
    document.body.dataset.state = state;
    answer.setAttribute("aria-busy", "false");
  }

  function start() {
    if (source) source.close();
    const opened = performance.now();
    let received = "";
    answer.textContent = "";
    answer.setAttribute("aria-busy", "true");
    error.hidden = true;
    error.textContent = "";
    status.textContent = "Asking the guide…";
    for (const name of Object.keys(facts)) fact(name, "waiting", true);
    document.body.dataset.state = "streaming";

    const stream = new EventSource("stream");
    source = stream;

    stream.onmessage = (event) => {
      const data = parse(event.data);
      if (stream !== source || !data || typeof data.text !== "string") return;
      if (!received) {
        fact("first", duration(performance.now() - opened));
        status.textContent = "";
      }
      received += data.text;
      answer.textContent = received;
    };

    stream.addEventListener("meta", (event) => {
      if (stream !== source) return;
      const done = performance.now();
      stream.close();
      const meta = parse(event.data) || {};
      fact("region", text(meta.served_from_region) || "unknown");
      fact("location", text(meta.user_detected_location) || "not detected");
      fact("complete", duration(done - opened));
      finish("done");
    });

    // Both the service's own `event: error` (a MessageEvent with data, sent when the model
    // fails mid-answer) and a failed connection (a plain Event) arrive here. A status other
    // than 200 (429, 502, 503, 504 before the first chunk) also ends up here, without the
    // status: EventSource does not expose it. Close at once either way, so the browser does
    // not reconnect on its own and ask the model again behind the user's back.
    stream.addEventListener("error", (event) => {
      if (stream !== source) return;
      stream.close();
      const data = typeof event.data === "string" ? parse(event.data) : null;
      let message;
      if (data && text(data.error)) {
        message = `The answer stopped early: ${sentence(data.error)}`;
        if (text(data.request_id)) message += ` Request id: ${data.request_id}.`;
      } else if (!navigator.onLine) {
        message = "You appear to be offline. Check the connection, then try again.";
      } else if (received) {
        message = "The answer was cut off. Please try again.";
      } else {
        message = UNAVAILABLE;
      }
      status.textContent = "";
      error.textContent = message;
      error.hidden = false;
      if (!received) fact("first", "no answer", true);
      fact("complete", "not completed", true);
      for (const name of ["region", "location"]) fact(name, "unknown", true);
      finish("error");
    });
  }

  byId("retry").addEventListener("click", start);
  start();
})();
