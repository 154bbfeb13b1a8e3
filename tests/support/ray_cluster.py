"""A real Ray cluster on 127.0.0.1 for the tests, run inside a private network namespace.

    $ unshare -n python tests/support/ray_cluster.py plan.json result.json

``ray start --head`` binds to the machine's outward address even when told 127.0.0.1, so the
tests run the whole cluster (head, a second node, the driver) in a namespace of their own, where
loopback is the only interface.  The plan names the head's port, a short temporary folder, the
number of nodes and driver steps (argv); a step may kill the second node (SIGKILL to its process
group) once a job folder's manifest lists a number of finished segments.  Every process group
started here is ended at the end.  The result file holds each step's exit code, stderr and time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)


def _kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _wait_nodes(address: str, count: int, timeout: float) -> int:
    import ray

    ray.init(address=address, log_to_driver=False, configure_logging=False, _node_ip_address="127.0.0.1")
    deadline = time.monotonic() + timeout
    alive = 0
    while time.monotonic() < deadline:
        alive = sum(1 for n in ray.nodes() if n["Alive"])
        if alive >= count:
            break
        time.sleep(0.2)
    ray.shutdown()
    return alive


def _done_segments(manifest: Path) -> int:
    try:
        return len(json.loads(manifest.read_text())["done"])
    except (OSError, ValueError, KeyError):
        return 0


def main(plan_path: str, result_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port, temp = plan["port"], plan["temp"]
    # no token auth even where ~/.ray/auth_token exists (a local ray.init() leaves one behind)
    env = {**os.environ, **plan.get("env", {}), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    common = ["--num-cpus", "1", "--object-store-memory", "80000000", "--block"]
    address = f"127.0.0.1:{port}"
    nodes = [
        _start([ray_bin, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                "--include-dashboard", "false", "--temp-dir", temp, *common], env, Path(temp) / "head.log")  # fmt: skip
    ]
    result: dict = {"steps": []}
    try:
        time.sleep(1.0)
        for _ in range(plan.get("nodes", 2) - 1):
            nodes.append(
                _start([ray_bin, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common], env,
                       Path(temp) / f"node{len(nodes)}.log")  # fmt: skip
            )
        result["nodes_alive"] = _wait_nodes(address, plan.get("nodes", 2), 60)
        for step in plan["steps"]:
            started = time.monotonic()
            driver = subprocess.Popen(
                step["argv"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
            )
            killed_at = None
            kill = step.get("kill_node")
            while driver.poll() is None and time.monotonic() - started < step.get("timeout", 120):
                if kill and killed_at is None and _done_segments(Path(kill["manifest"])) >= kill["done"]:
                    _kill(nodes[-1])
                    killed_at = time.monotonic() - started
                time.sleep(0.05)
            if driver.poll() is None:
                _kill(driver)
            out, err = driver.communicate()
            result["steps"].append(
                {
                    "rc": driver.returncode,
                    "stdout": out.decode(errors="replace"),
                    "stderr": err.decode(errors="replace"),
                    "seconds": time.monotonic() - started,
                    "killed_node_at": killed_at,
                }
            )
    finally:
        for node in nodes:
            _kill(node, signal.SIGTERM)
        time.sleep(0.5)
        for node in nodes:
            _kill(node)
        Path(result_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
