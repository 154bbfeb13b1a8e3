"""The web view's one page: inline HTML, CSS and JavaScript, no build step, usable on a phone.

It plays the stream over WebRTC in a ``<video>`` (its offer to ``/webrtc/offer``, the answer back,
no STUN), and falls back to ``/stream.mjpg`` in an ``<img>`` when WebRTC fails (no aiortc on the
server, no RTCPeerConnection in the browser, a connection that fails or shows no picture within
10 s); a button (or ``/?mode=mjpeg``) switches between the two and the tab remembers the choice.  When
the session writes HLS (``--output NAME.m3u8``, served under ``/hls/``) an HLS button (or
``/?mode=hls``) plays it in the ``<video>`` where the browser plays HLS itself (Safari, iOS, recent
Chromium), a few seconds behind; elsewhere it says so and names the playlist's address for a
player such as VLC.  ``body[data-mode]`` says which one plays.  It polls ``/api/status`` once a
second for the figures and the controls' state, and posts each change to ``/api/control`` as JSON.  A token given in the
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
 #view, #rtc { width: 100%; height: auto; display: block; background: #000; min-height: 120px; }
 [hidden] { display: none !important; }
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
<video id="rtc" autoplay muted playsinline hidden></video>
<img id="view" alt="colourized stream" hidden>
<div id="figures">starting...</div>
<fieldset>
 <button id="side" aria-pressed="false">side by side</button>
 <button id="pause" aria-pressed="false">pause</button>
 <button id="snapshot">snapshot</button>
 <button id="mode" aria-pressed="false" title="play the MJPEG stream instead of WebRTC">MJPEG</button>
 <button id="hls" aria-pressed="false" title="play the HLS output (a few seconds behind)" hidden>HLS</button>
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
if (["mjpeg", "webrtc", "hls"].includes(params.get("mode"))) { sessionStorage.setItem("sc-mode", params.get("mode")); }
if (params.has("token") || params.has("mode")) {
  if (params.has("token")) { sessionStorage.setItem("sc-token", params.get("token")); }
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("sc-token");
const auth = token ? {"Authorization": "Bearer " + token} : {};
const withToken = (path) =>
  token ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : path;
const $ = (id) => document.getElementById(id);
const view = $("view");
const video = $("rtc");
let mode = null;
let pc = null;
let streamStarted = 0;
let note = "";  // why the page plays MJPEG, when it fell back
function stopPlaying() {
  if (pc) { pc.close(); pc = null; }
  video.srcObject = null;
  if (video.getAttribute("src")) { video.removeAttribute("src"); video.load(); }
  video.hidden = true;
  view.removeAttribute("src");
  view.hidden = true;
}
function setMode(m) {
  mode = m;
  document.body.dataset.mode = m;
  $("mode").setAttribute("aria-pressed", m === "mjpeg");
  $("hls").setAttribute("aria-pressed", m === "hls");
}
async function playHls() {
  stopPlaying();
  setMode("hls");
  let url = null;
  try { url = (await (await fetch("/api/status", {headers: auth})).json()).hls; } catch (e) { url = null; }
  if (mode !== "hls") return;
  if (!url) { playMjpeg("no HLS output on this server"); return; }
  const address = location.origin + url;
  if (!video.canPlayType("application/vnd.apple.mpegurl")) {
    $("error").textContent = "this browser does not play HLS itself (Safari, iOS and recent Chromium do); " +
      "open " + address + (token ? "?token=..." : "") + " in a player such as VLC, or choose WebRTC or MJPEG";
    return;
  }
  video.hidden = false;
  video.src = withToken(url);
  video.play().catch(() => {});
  $("error").textContent = "";
}
video.onerror = () => {
  if (mode === "hls") $("error").textContent = "HLS stopped (no playlist yet?); retrying";
  if (mode === "hls") setTimeout(() => { if (mode === "hls") playHls(); }, 3000);
};
function startStream() {
  if (mode !== "mjpeg") return;
  streamStarted = Date.now();
  view.src = withToken("/stream.mjpg?t=" + streamStarted);
}
function playMjpeg(why) {
  stopPlaying();
  setMode("mjpeg");
  view.hidden = false;
  note = why ? why + "; playing MJPEG" : "";
  $("error").textContent = note;
  startStream();
}
view.onerror = () => {
  if (mode !== "mjpeg" || !view.getAttribute("src")) return;
  $("error").textContent = "stream unavailable (viewer limit or stopped); retrying";
  setTimeout(startStream, 3000);
};
view.onload = () => { $("error").textContent = note; };
function gathered(conn) {  // the offer goes with every candidate in it: the server takes no trickle
  return new Promise((resolve) => {
    if (conn.iceGatheringState === "complete") { resolve(); return; }
    conn.addEventListener("icegatheringstatechange", () => {
      if (conn.iceGatheringState === "complete") resolve();
    });
    setTimeout(resolve, 3000);
  });
}
async function playWebRtc() {
  stopPlaying();
  setMode("webrtc");
  note = "";
  video.hidden = false;
  if (!window.RTCPeerConnection) { playMjpeg("this browser has no WebRTC"); return; }
  const mine = pc = new RTCPeerConnection({iceServers: []});
  const lost = (why) => { if (pc === mine) playMjpeg(why); };
  try {
    mine.addTransceiver("video", {direction: "recvonly"});
    mine.ontrack = (e) => {
      // a live view: play each frame as soon as it is decoded, no jitter buffer to smooth the pace
      if ("jitterBufferTarget" in e.receiver) e.receiver.jitterBufferTarget = 0;
      if ("playoutDelayHint" in e.receiver) e.receiver.playoutDelayHint = 0;
      video.srcObject = new MediaStream([e.track]);
      video.play().catch(() => {});
    };
    mine.onconnectionstatechange = () => {
      if (mine.connectionState === "failed") lost("the WebRTC connection failed");
    };
    await mine.setLocalDescription(await mine.createOffer());
    await gathered(mine);
    const r = await fetch("/webrtc/offer", {method: "POST", headers: {"Content-Type": "application/json", ...auth},
      body: JSON.stringify({type: "offer", sdp: mine.localDescription.sdp})});
    const answer = await r.json();
    if (!r.ok) { lost("no WebRTC: " + (answer.error || r.statusText)); return; }
    if (pc !== mine) return;
    await mine.setRemoteDescription(answer);
    $("error").textContent = "";
    setTimeout(() => { if (pc === mine && !video.videoWidth) lost("no WebRTC picture in 10 s"); }, 10000);
  } catch (e) { lost("no WebRTC: " + e); }
}
$("hls").onclick = () => {
  const next = mode === "hls" ? "webrtc" : "hls";
  sessionStorage.setItem("sc-mode", next);
  if (next === "hls") playHls(); else playWebRtc();
};
$("mode").onclick = () => {
  const next = mode === "mjpeg" ? "webrtc" : "mjpeg";
  sessionStorage.setItem("sc-mode", next);
  if (next === "mjpeg") playMjpeg(); else playWebRtc();
};
addEventListener("pagehide", () => { if (pc) pc.close(); });
const startMode = sessionStorage.getItem("sc-mode");
if (startMode === "mjpeg") playMjpeg(); else if (startMode === "hls") playHls(); else playWebRtc();
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
    $("hls").hidden = !s.hls;
    if (s.state === "starting") { $("figures").textContent = "starting..."; return; }
    $("figures").textContent =
      `${s.fps.toFixed(1)} fps | model ${s.model_ms.toFixed(0)} ms | latency ${s.latency_ms.toFixed(0)} ms` +
      ` | served ${s.serve_latency_ms.p50.toFixed(0)} ms | viewers ${s.viewers}/${s.max_viewers}` +
      ` | dropped ${s.dropped} | ${s.state} | ${mode}`;
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
