"""``serve``'s pages: the list of cameras at ``/``, and each camera's own page under ``/cameras/NAME/``.

The list shows every camera's newest snapshot (refreshed every two seconds: watching the list
takes no viewer's place), whether it is up, its figures, and links to its page.  A camera's page
is ``live --serve``'s page (``page.PAGE``) with its requests pointed at the camera's routes, a link
back to the list and a line saying when the camera is down.
"""

from __future__ import annotations

import html
import re

from .page import PAGE

_ROOTED = re.compile(r'(\(\s*")/(?=[a-z])')  # fetch("/api/..."), withToken("/stream.mjpg...")


def camera_page(name: str) -> str:
    """``page.PAGE`` for the camera ``name`` (a checked name: letters, digits, - and _)."""
    base = f"/cameras/{name}"
    text = _ROOTED.sub(lambda m: f"{m.group(1)}{base}/", PAGE)
    text = text.replace("<title>stream-colorize</title>", f"<title>{html.escape(name)} - stream-colorize</title>")
    back = f'<p><a id="back" href="/">all cameras</a> | {html.escape(name)} <span id="down"></span></p>'
    text = text.replace("<main>", "<main>" + back, 1)
    extra = f"""
$("back").href = withToken("/");
async function pollDown() {{
  try {{
    const s = await (await fetch("{base}/api/status", {{headers: auth}})).json();
    $("down").textContent = s.up ? "" : "(" + s.state + (s.error ? ": " + s.error : "") + ")";
  }} catch (e) {{ $("down").textContent = "(server unreachable)"; }}
}}
pollDown();
setInterval(pollDown, 2000);
</script>"""
    return text.replace("</script>", extra, 1) if text.count("</script>") == 1 else text


LIST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>cameras - stream-colorize</title>
<style>
 :root { color-scheme: dark; font-family: system-ui, sans-serif; }
 body { margin: 0; background: #111; color: #eee; }
 main { max-width: 1400px; margin: auto; padding: 8px; }
 #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 10px; }
 .cam { border: 1px solid #333; border-radius: 6px; padding: 6px; }
 .cam img { width: 100%; height: auto; display: block; background: #000; min-height: 100px; }
 .cam a { color: #8cf; font-size: 18px; }
 .figures { font: 13px ui-monospace, monospace; margin-top: 4px; }
 .down { color: #f77; }
 .up { color: #7f7; }
</style></head>
<body><main>
<h1>stream-colorize</h1>
<div id="model" class="figures"></div>
<div id="grid"></div>
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
const cards = {};
function card(name) {
  if (cards[name]) return cards[name];
  const box = document.createElement("div");
  box.className = "cam";
  const link = document.createElement("a");
  link.href = withToken("/cameras/" + name + "/");
  link.textContent = name;
  const state = document.createElement("span");
  const img = document.createElement("img");
  img.alt = name;
  const figures = document.createElement("div");
  figures.className = "figures";
  box.append(link, " ", state, img, figures);
  document.getElementById("grid").append(box);
  return cards[name] = {state, img, figures};
}
async function snapshot(name, img) {
  const r = await fetch("/cameras/" + name + "/snapshot.jpg", {headers: auth});
  if (!r.ok) return;
  const old = img.src;
  img.src = URL.createObjectURL(await r.blob());
  if (old) URL.revokeObjectURL(old);
}
async function poll() {
  try {
    const s = await (await fetch("/api/status", {headers: auth})).json();
    const m = s.model;
    document.getElementById("model").textContent =
      `model ${m.name}: ${m.forwards} forwards, ${m.frames} frames, ${m.model_ms.toFixed(0)} ms a forward` +
      ` | batching cameras: ${m.batch > 1 ? "up to " + m.batch : "off"}`;
    for (const [name, c] of Object.entries(s.cameras)) {
      const el = card(name);
      el.state.textContent = c.up ? "up" : c.state + (c.error ? ": " + c.error : "");
      el.state.className = c.up ? "up" : "down";
      el.figures.textContent = c.up ?
        `${c.fps.toFixed(1)} fps | model ${c.model_ms.toFixed(0)} ms | latency ${c.latency_ms.toFixed(0)} ms` +
        ` | viewers ${c.viewers}/${c.max_viewers}` : "";
      if (c.up) snapshot(name, el.img);
    }
  } catch (e) { document.getElementById("model").textContent = "disconnected"; }
}
poll();
setInterval(poll, 2000);
</script></body></html>
"""
