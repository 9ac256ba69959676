// Keeping a view current. Today by polling, paused while the tab is hidden; a view asks for
// `live(refresh)` and gets `stop()`, so a push source (server-sent events) can take its place
// without the views changing.

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
