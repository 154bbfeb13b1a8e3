"""The web view's one page: inline HTML, CSS and JavaScript, no build step, usable on a phone.

It shows ``/stream.mjpg`` in an ``<img>``, polls ``/api/status`` once a second for the figures and
the controls' state, and posts each change to ``/api/control`` as JSON.  A token given in the
address (``/?token=...``) is moved out of it at once (kept in the tab's sessionStorage) and sent
with every request: in the Authorization header, or in the query for the stream (an ``<img>``
cannot send headers).
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>stream-colorize</title>
<style>
 :root { color-scheme: dark; font-family: system-ui, sans-serif; }
 body { margin: 0; background: #111; color: #eee; }
 main { max-width: 1280px; margin: auto; padding: 8px; }
 #view { width: 100%; height: auto; display: block; background: #000; min-height: 120px; }
 #figures { font: 14px ui-monospace, monospace; margin: 6px 0; display: flex; flex-wrap: wrap; gap: 4px 14px; }
 fieldset { border: 1px solid #333; border-radius: 6px; margin: 6px 0; display: flex; flex-wrap: wrap;
            gap: 10px 18px; align-items: center; }
 label { display: flex; align-items: center; gap: 8px; }
 input[type=range] { width: 180px; }
 button { font-size: 16px; padding: 10px 16px; border-radius: 6px; border: 1px solid #555;
          background: #2a2a2a; color: #eee; }
 button[aria-pressed=true] { background: #3b5; color: #000; }
 #error { color: #f77; min-height: 1.2em; }
</style></head>
<body><main>
<img id="view" alt="colourized stream">
<div id="figures">starting...</div>
<fieldset>
 <button id="side" aria-pressed="false">side by side</button>
 <button id="pause" aria-pressed="false">pause</button>
 <button id="snapshot">snapshot</button>
 <label>colour <input id="temperature" type="range" min="0.05" max="1.5" step="0.01">
  <span id="temperature_v"></span></label>
 <label>smoothing <input id="smooth" type="range" min="0" max="0.99" step="0.01"> <span id="smooth_v"></span></label>
 <label>skip <input id="skip" type="range" min="0" max="30" step="1"> <span id="skip_v"></span></label>
</fieldset>
<div id="error"></div>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
if (params.has("token")) {
  sessionStorage.setItem("sc-token", params.get("token"));
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("sc-token");
const auth = token ? {"Authorization": "Bearer " + token} : {};
const withToken = (path) =>
  token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const $ = (id) => document.getElementById(id);
const view = $("view");
let streamStarted = 0;
function startStream() { streamStarted = Date.now(); view.src = withToken("/stream.mjpg?t=" + streamStarted); }
view.onerror = () => {
  $("error").textContent = "stream unavailable (viewer limit or stopped); retrying";
  setTimeout(startStream, 3000);
};
view.onload = () => { $("error").textContent = ""; };
startStream();
let dragging = null;
async function send(body) {
  try {
    const r = await fetch("/api/control", {method: "POST", headers: {"Content-Type": "application/json", ...auth},
                                            body: JSON.stringify(body)});
    if (!r.ok) { $("error").textContent = (await r.json()).error || r.statusText; }
  } catch (e) { $("error").textContent = String(e); }
}
for (const id of ["side", "pause"]) {
  $(id).onclick = () => send({action: id, on: $(id).getAttribute("aria-pressed") !== "true"});
}
for (const id of ["temperature", "smooth", "skip"]) {
  const el = $(id);
  el.oninput = () => {
    dragging = id;
    $(id + "_v").textContent = id === "skip" && el.value === "0" ? "auto" : el.value;
  };
  el.onchange = () => { dragging = null; send({action: id, value: Number(el.value)}); };
}
$("snapshot").onclick = async () => {
  const r = await fetch("/snapshot.jpg", {headers: auth});
  if (!r.ok) { $("error").textContent = "no snapshot: " + r.statusText; return; }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = "snapshot-" + new Date().toISOString().replace(/[:.]/g, "-") + ".jpg";
  a.click();
};
function setSlider(id, value, label) {
  if (dragging === id) return;
  $(id).value = value;
  $(id + "_v").textContent = label;
}
async function poll() {
  try {
    const r = await fetch("/api/status", {headers: auth});
    const s = await r.json();
    if (!r.ok) { $("error").textContent = s.error || r.statusText; return; }
    if (s.state === "starting") { $("figures").textContent = "starting..."; return; }
    $("figures").textContent =
      `${s.fps.toFixed(1)} fps | model ${s.model_ms.toFixed(0)} ms | latency ${s.latency_ms.toFixed(0)} ms` +
      ` | served ${s.serve_latency_ms.p50.toFixed(0)} ms | viewers ${s.viewers}/${s.max_viewers}` +
      ` | dropped ${s.dropped} | ${s.state}`;
    $("side").setAttribute("aria-pressed", s.side_by_side);
    $("pause").setAttribute("aria-pressed", s.paused);
    setSlider("temperature", s.temperature, s.temperature.toFixed(2));
    setSlider("smooth", s.smoothing, s.smoothing.toFixed(2));
    const auto = s.skip.includes("auto");
    setSlider("skip", auto ? 0 : parseInt(s.skip), auto ? "auto (" + parseInt(s.skip) + ")" : s.skip);
  } catch (e) { $("figures").textContent = "disconnected"; }
}
poll();
setInterval(poll, 1000);
</script></body></html>
"""
