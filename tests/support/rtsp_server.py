"""A real RTSP server on loopback for the tests, run by Debian's /usr/bin/python3 (GStreamer via gi).

    $ /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --pattern
    READY rtsp://127.0.0.1:8554/live
    $ /usr/bin/python3 tests/support/rtsp_server.py --port 8554 --file clip.mp4 --user u --password p

It serves either a live test pattern (``videotestsrc is-live=true`` encoded with x264 at zero
latency) or an H.264 MP4 file without re-encoding, at the mount ``/live``.  With ``--user`` and
``--password`` every request needs HTTP basic credentials (anything else gets 401).  The line
``READY <url>`` on stdout says it is listening.  SIGTERM/SIGINT stop it.  This file runs outside
the venv (the GStreamer RTSP bindings only import in the system Python), so it imports nothing
from the package.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def launch_line(args: argparse.Namespace) -> str:
    """The media factory's pipeline, as gst-launch syntax."""
    if args.file:
        return f'( filesrc location="{args.file}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )'
    caps = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    return (
        f"( videotestsrc is-live=true pattern={args.pattern_name} ! {caps} ! videoconvert ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} bitrate=800 ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def build_server(args: argparse.Namespace) -> GstRtspServer.RTSPServer:
    """An RTSP server bound to 127.0.0.1:port with one shared media factory at /live."""
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        role = Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(role)
    server.get_mount_points().add_factory(args.mount, factory)
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", default="/live")
    parser.add_argument("--file", help="H.264 MP4 to serve (default: a live test pattern)")
    parser.add_argument("--pattern", action="store_true", help="serve the live test pattern (the default)")
    parser.add_argument("--pattern-name", default="smpte")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = build_server(args)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"FAILED cannot listen on 127.0.0.1:{args.port}", flush=True)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
