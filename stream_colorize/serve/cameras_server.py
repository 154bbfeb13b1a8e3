"""``serve``'s HTTP server: ``live --serve``'s server (same token rule, headers, limits) with a
set of routes per camera.

    >>> server = CamerasServer(config.listen, cameras, shared, token)
    >>> server.start()     # bound when it returns: UsageError for an address in use
    >>> server.stop()

Routes: ``/`` (the list of cameras), ``/api/status`` (JSON: every camera and the model),
``/metrics`` (Prometheus, a ``camera`` label on each camera's figures), and per camera
``/cameras/NAME/`` (its page), ``/cameras/NAME/stream.mjpg``, ``/cameras/NAME/snapshot.jpg``,
``/cameras/NAME/api/status`` and ``/cameras/NAME/api/control``.  An unknown camera is a 404.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from .address import Listen
from .cameras import Camera
from .cameras_page import LIST_PAGE, camera_page
from .channel import Channel
from .controls import MAX_BODY
from .hub import FrameHub
from .metrics import Sample, ServeCounters, metric_samples, render_metrics
from .server import CSP, SECURITY_HEADERS, WRITE_TIMEOUT, WebServer, _error, read_control
from .shared_model import SharedModel


class CamerasServer(WebServer):
    """The web side of ``serve``: one channel (MJPEG viewers) per camera, one page listing them."""

    def __init__(self, listen: Listen, cameras: dict[str, Camera], shared: SharedModel, token: str | None = None,
                 write_timeout: float = WRITE_TIMEOUT) -> None:  # fmt: skip
        # The base's own hub stays idle; its counters count what is the server's own (401s).
        super().__init__(listen, FrameHub(), ServeCounters(), lambda: None, lambda control: None, token,
                         write_timeout)  # fmt: skip
        self.cameras = cameras
        self.shared = shared
        self.channels = {name: Channel(cam.view.hub, cam.view.counters, self._loop, name)
                         for name, cam in cameras.items()}  # fmt: skip
        self._pages = {name: camera_page(name) for name in cameras}

    def _started(self) -> None:
        for name, camera in self.cameras.items():
            camera.view.hub.start(self.channels[name].frame_ready)

    def _stopping(self) -> None:
        for camera in self.cameras.values():
            camera.view.hub.stop()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.router.add_get("/", self._list)
        app.router.add_get("/api/status", self._all_status)
        app.router.add_get("/metrics", self._all_metrics)
        app.router.add_get("/cameras/{camera}", self._camera_redirect)
        app.router.add_get("/cameras/{camera}/", self._camera_page)
        app.router.add_get("/cameras/{camera}/stream.mjpg", self._camera_stream)
        app.router.add_get("/cameras/{camera}/snapshot.jpg", self._camera_snapshot)
        app.router.add_get("/cameras/{camera}/api/status", self._camera_status)
        app.router.add_post("/cameras/{camera}/api/control", self._camera_control)
        return app

    def _camera(self, request: web.Request) -> Camera:
        camera = self.cameras.get(request.match_info["camera"])
        if camera is None:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such camera"}), content_type="application/json",
                                   headers=SECURITY_HEADERS)  # fmt: skip
        return camera

    # -- everything --------------------------------------------------------------------------
    async def _list(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(text=LIST_PAGE, content_type="text/html")
        response.headers["Content-Security-Policy"] = CSP
        return response

    def model_status(self) -> dict:
        """The shared model's figures."""
        shared = self.shared
        return {
            "name": shared.engine.spec.name,
            "backend": shared.engine.backend_name,
            "batch": shared.batch,
            "forwards": shared.forwards,
            "frames": shared.frames,
            "model_ms": round(shared.model_s * 1000, 2),
            "error": str(shared.error) if shared.error is not None else None,
        }

    async def _all_status(self, request: web.Request) -> web.StreamResponse:
        cameras = {name: camera.status() for name, camera in self.cameras.items()}
        up = sum(1 for body in cameras.values() if body["up"])
        return web.json_response({"cameras": cameras, "cameras_up": up, "model": self.model_status()})

    async def _all_metrics(self, request: web.Request) -> web.StreamResponse:
        rows = []
        for name, camera in self.cameras.items():
            view = camera.view
            samples: list[Sample] = [("camera_up", "gauge", "1 while the camera's source plays.", camera.up)]
            samples += [s for s in metric_samples(view.status if camera.up else None, view.counters)
                        if s[0] != "unauthorized_total"]  # the server's own, below  # fmt: skip
            rows.append(({"camera": name}, samples, view.counters.served_latency))
        shared = self.shared
        rows.append(({}, [
            ("model_forwards_total", "counter", "Forward calls of the shared model.", shared.forwards),
            ("model_frames_total", "counter", "Frames the shared model colourized.", shared.frames),
            ("model_forward_seconds", "gauge", "One forward call (moving average).", shared.model_s),
            ("unauthorized_total", "counter", "Requests refused for a missing or wrong token.",
             self.counters.unauthorized),
        ], []))  # fmt: skip
        return web.Response(text=render_metrics(rows), content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})  # fmt: skip

    # -- one camera --------------------------------------------------------------------------
    async def _camera_redirect(self, request: web.Request) -> web.StreamResponse:
        camera = self._camera(request)
        raise web.HTTPFound(f"/cameras/{camera.name}/" + (f"?{request.query_string}" if request.query_string else ""))

    async def _camera_page(self, request: web.Request) -> web.StreamResponse:
        camera = self._camera(request)
        response = web.Response(text=self._pages[camera.name], content_type="text/html")
        response.headers["Content-Security-Policy"] = CSP
        return response

    async def _camera_stream(self, request: web.Request) -> web.StreamResponse:
        camera = self._camera(request)
        return await self.channels[camera.name].stream(request, SECURITY_HEADERS, lambda: self._closing,
                                                       self.write_timeout)  # fmt: skip

    async def _camera_snapshot(self, request: web.Request) -> web.StreamResponse:
        camera = self._camera(request)
        data = await asyncio.get_running_loop().run_in_executor(None, camera.view.hub.snapshot)
        if data is None or not camera.up:
            return _error(503, f"camera {camera.name} has no frame now ({camera.state})")
        return web.Response(body=data, content_type="image/jpeg")

    async def _camera_status(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._camera(request).status())

    async def _camera_control(self, request: web.Request) -> web.StreamResponse:
        camera = self._camera(request)
        control = await read_control(request)
        if isinstance(control, web.Response):
            return control
        camera.view.controls.append(control)
        return web.json_response({"ok": True})
