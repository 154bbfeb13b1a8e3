"""Debian's nginx with its RTMP module (``libnginx-mod-rtmp``), started by a test in its own folder.

    >>> with nginx_rtmp(tmp_path) as port:       # rtmp://127.0.0.1:<port>/live/<key>, live on
    ...     ...

nginx runs in the foreground (``daemon off``) as one process (``master_process off``: as root it
would hand its workers to ``nobody``, who cannot write the test's folder), with its configuration,
pid, error log and prefix in that folder: it works the same as root in CI and as a user.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.live import free_port

MODULE_PATHS = [Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"), Path("/usr/share/nginx/modules/ngx_rtmp_module.so")]

CONFIG = """load_module {module};
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    access_log off;  # its default is under /var/log/nginx, which a user cannot write
    application live {{ live on; record off; }}
  }}
}}
"""


def nginx_rtmp_missing() -> str | None:
    """Why nginx with the RTMP module cannot run here, or None."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (apt-get install nginx libnginx-mod-rtmp)"
    if rtmp_module() is None:
        return "nginx's RTMP module is not installed (apt-get install libnginx-mod-rtmp)"
    return None


def rtmp_module() -> Path | None:
    """Where Debian put ngx_rtmp_module.so, or None."""
    return next((p for p in MODULE_PATHS if p.exists()), None)


@contextmanager
def nginx_rtmp(folder: Path, port: int | None = None, timeout: float = 10.0) -> Iterator[int]:
    """Run nginx receiving RTMP on 127.0.0.1 (a free port unless given); yields the port."""
    module = rtmp_module()
    assert module is not None, nginx_rtmp_missing()
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(CONFIG.format(module=module, folder=folder, port=port))
    process = subprocess.Popen(["nginx", "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        ends = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > ends:
                    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                    raise RuntimeError(f"nginx did not start: {process.stderr.read() if process.stderr else ''}"
                                       f"{log}") from None  # fmt: skip
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
