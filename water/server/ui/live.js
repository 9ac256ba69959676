// Keeping a view current: by polling (`live`), paused while the tab is hidden, or from the
// server-sent events of a stream (`follow`); either way a view gets `stop()`.

import { openStream } from "./api.js";

export const REFRESH_MS = 1500;

/**
 * Call `refresh()` every `ms` while the page is visible, one call at a time.
 * `refresh` may answer false to stop (e.g. the execution finished). Returns `stop()`.
 */
export function live(refresh, ms = REFRESH_MS) {
  let timer = null;
  let stopped = false;
  let running = false;

  async function tick() {
    timer = null;
    if (stopped || running) return;
    if (document.visibilityState === "hidden") return; // resumed by visibilitychange
    running = true;
    let again = true;
    try {
      again = (await refresh()) !== false;
    } catch {
      again = true; // the view reports its own errors; keep trying
    } finally {
      running = false;
    }
    if (again && !stopped) timer = setTimeout(tick, ms);
    else stop();
  }

  function visibility() {
    if (document.visibilityState === "visible" && timer === null && !running) tick();
  }

  function stop() {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    document.removeEventListener("visibilitychange", visibility);
  }

  document.addEventListener("visibilitychange", visibility);
  timer = setTimeout(tick, ms);
  return stop;
}

/**
 * Call `refresh()` after each batch of events of the server-sent event stream at `path`
 * (one call at a time; events that come meanwhile cause one more call), until the stream
 * ends (what it follows has finished: a last call) or `refresh` answers false. When the
 * stream cannot be opened or breaks, falls back to polling (`live`). Returns `stop()`.
 */
export function follow(path, refresh, ms = REFRESH_MS) {
  const controller = new AbortController();
  let stopped = false;
  let running = false;
  let pending = false;
  let polling = null;

  async function update() {
    if (running) {
      pending = true;
      return;
    }
    running = true;
    try {
      do {
        pending = false;
        let again = true;
        try {
          again = (await refresh()) !== false;
        } catch {
          again = true; // the view reports its own errors
        }
        if (!again) {
          stop();
          return;
        }
      } while (pending && !stopped);
    } finally {
      running = false;
    }
  }

  async function read() {
    const response = await openStream(path, { signal: controller.signal });
    if (response === null) return; // nothing more will come
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const blocks = buffer.split("\n\n");
      buffer = blocks.pop();
      if (blocks.some((block) => /^event: /m.test(block))) update();
    }
  }

  read().then(
    () => {
      if (!stopped) update(); // the end: one last look
    },
    (error) => {
      if (!stopped && error.name !== "AbortError") polling = live(refresh, ms);
    },
  );

  function stop() {
    stopped = true;
    controller.abort();
    polling?.();
  }

  return stop;
}
