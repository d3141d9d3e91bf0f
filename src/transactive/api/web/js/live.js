// Live updates: the community's server-sent events (GET /communities/{c}/events, docs/api.md) read with fetch
// and a stream reader, since EventSource cannot send the Authorization header. Reconnects after a dropped
// connection (1 s, doubling up to 30 s); stops for good on a 4xx (e.g. a service without the route: the caller
// then falls back to polling).

import { apiKey, seg } from "./api.js";

const BASE = new URL("../", document.baseURI);
const MAX_BACKOFF_MS = 30_000;

/** Parse complete SSE frames out of `buffer`; calls onEvent(name, data) for each; returns the rest. */
export function parseFrames(buffer, onEvent) {
  const frames = buffer.split(/\r?\n\r?\n/);
  const rest = frames.pop();
  for (const frame of frames) {
    let name = "message";
    const data = [];
    for (const line of frame.split(/\r?\n/)) {
      if (line.startsWith(":")) continue; // a comment (keep-alive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) {
      try {
        onEvent(name, JSON.parse(data.join("\n")));
      } catch (error) {
        console.warn("live update not understood", error);
      }
    }
  }
  return rest;
}

/**
 * Watch a community: onEvent(name, data) for every event; onState("live" | "retrying" | "off") when the
 * connection changes. Returns {stop()}.
 */
export function watchCommunity(community, { onEvent, onState }) {
  const controller = new AbortController();
  let backoff = 1000;
  let stopped = false;

  const run = async () => {
    while (!stopped) {
      let response;
      try {
        response = await fetch(new URL(`communities/${seg(community)}/events`, BASE), {
          headers: { Accept: "text/event-stream", Authorization: `Bearer ${apiKey()}` },
          cache: "no-store", signal: controller.signal });
      } catch {
        response = null;
      }
      if (stopped) return;
      if (response && response.status >= 400 && response.status < 500 && response.status !== 429) {
        onState?.("off"); // no such route, or not allowed: nothing to retry
        return;
      }
      if (response?.ok && response.body) {
        onState?.("live");
        backoff = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer = parseFrames(buffer + value, onEvent);
          }
        } catch {
          // dropped (or stopped): retry below
        }
      }
      if (stopped) return;
      onState?.("retrying");
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  };
  run();
  return {
    stop() {
      stopped = true;
      controller.abort();
    },
  };
}
