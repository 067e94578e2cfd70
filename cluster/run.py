"""``make cluster REPLICAS=N``: redis-server + N Streamlit replicas + haproxy, one command.

    python -m cluster.run --replicas 2 --port 8501          # Ctrl-C stops everything
    python -m cluster.run drain r1 [--stop]                  # drain a replica of a running cluster

* redis-server on 127.0.0.1 (``--redis-port``, default a free port), ``maxmemory``
  (``--redis-mb``, default 256) + ``allkeys-lru``, no persistence, password from
  ``OPTIONS_DASH_REDIS_PASSWORD`` (a random one for this run when unset);
* N replicas (``r1`` .. ``rN``) of ``Home.py`` on free loopback ports, each with
  ``OPTIONS_DASH_REDIS_URL`` pointing at that Redis (the shared L2 and fleet rate limit,
  ``core/shared.py``);
* haproxy on ``--bind``:``--port`` (default 127.0.0.1:8501): cookie stickiness, WebSocket
  upgrade for ``/_stcore/stream``, health checks on ``/_stcore/health``, redispatch away from a
  dead replica, an admin socket for drains (``cluster/services.py``).

Logs and state go to one folder (``--dir``, default ``logs/cluster``): ``redis.log``,
``r1.log`` .., ``haproxy.log``, ``state.json`` (ports and pids; no password). A replica that
exits is reported and not restarted (its users reload onto another); Ctrl-C or SIGTERM stops
haproxy, the replicas, then Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from cluster import services

DEFAULT_DIR = services.ROOT / "logs" / "cluster"


class Cluster:
    def __init__(self, replicas: int, run_dir: Path, *, port: int | None = None,
                 bind: str = "127.0.0.1", redis_port: int | None = None, redis_mb: int = 256,
                 env: dict | None = None, password: str | None = None,
                 entry: str | None = None, replica_env_of=None):
        self.run_dir = Path(run_dir)
        self.password = password or os.environ.get("OPTIONS_DASH_REDIS_PASSWORD") \
            or secrets.token_urlsafe(24)
        self.redis = services.Redis(self.run_dir, password=self.password, port=redis_port,
                                    maxmemory_mb=redis_mb)
        replica_env = {**(env or {}), "OPTIONS_DASH_REDIS_URL": self.redis.url,
                       "OPTIONS_DASH_REDIS_PASSWORD": self.password}
        self.replicas = [services.Replica(f"r{i + 1}", self.run_dir, entry=entry,
                                          env={**replica_env, **(replica_env_of(f"r{i + 1}")
                                                                 if replica_env_of else {})})
                         for i in range(replicas)]
        self.haproxy = services.Haproxy(self.run_dir, self.replicas, port=port, bind=bind)

    def start(self, timeout: float = 120.0) -> "Cluster":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.redis.start()
            for r in self.replicas:
                r.start()
            for r in self.replicas:
                r.wait_healthy(timeout)
            self.haproxy.start()
            self.haproxy.wait_up([r.name for r in self.replicas])
        except BaseException:
            self.stop()
            raise
        self.write_state()
        return self

    def write_state(self) -> None:
        state = {"url": self.haproxy.base, "haproxy": {"port": self.haproxy.port,
                                                       "pid": self.haproxy.pid,
                                                       "socket": str(self.haproxy.sock)},
                 "redis": {"port": self.redis.port, "pid": self.redis.pid},
                 "replicas": {r.name: {"port": r.port, "pid": r.pid} for r in self.replicas}}
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2))

    def replica(self, name: str) -> services.Replica:
        return next(r for r in self.replicas if r.name == name)

    def stop(self) -> None:
        self.haproxy.stop()
        for r in self.replicas:
            r.stop()
        self.redis.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _serve(args) -> int:
    env = {}
    cluster = Cluster(args.replicas, Path(args.dir), port=args.port, bind=args.bind,
                      redis_port=args.redis_port, redis_mb=args.redis_mb, env=env)
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"starting redis + {args.replicas} replicas + haproxy; logs in {cluster.run_dir}",
          flush=True)
    cluster.start()
    print(f"cluster up: {cluster.haproxy.base}  (replicas "
          + ", ".join(f"{r.name}:{r.port}" for r in cluster.replicas)
          + f"; redis 127.0.0.1:{cluster.redis.port}). Ctrl-C stops everything.", flush=True)
    reported: set[str] = set()
    try:
        while not stopping:
            for r in cluster.replicas:
                if not r.alive() and r.name not in reported:
                    reported.add(r.name)
                    print(f"replica {r.name} exited (code {r.proc.returncode}); its users "
                          f"reload onto the others; see {r.log_path}", flush=True)
            if not cluster.redis.alive() and "redis" not in reported:
                reported.add("redis")
                print("redis-server exited: replicas serve from L1 + upstream", flush=True)
            if not cluster.haproxy.alive():
                print("haproxy exited: stopping", flush=True)
                break
            time.sleep(0.5)
    finally:
        print("stopping the cluster", flush=True)
        cluster.stop()
    return 0


def _drain(args) -> int:
    state = json.loads((Path(args.dir) / "state.json").read_text())
    hap = services.Haproxy(Path(args.dir), [])
    hap.sock = Path(state["haproxy"]["socket"])
    print(f"draining {args.name}: no new sessions; waiting for its sessions to end", flush=True)
    hap.drain(args.name, timeout=args.timeout)
    if args.stop:
        pid = state["replicas"][args.name]["pid"]
        os.kill(pid, signal.SIGTERM)
        print(f"{args.name} (pid {pid}) stopped", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="logs + state folder")
    sub = parser.add_subparsers(dest="cmd")
    d = sub.add_parser("drain", help="drain one replica of the running cluster")
    d.add_argument("name")
    d.add_argument("--timeout", type=float, default=300.0)
    d.add_argument("--stop", action="store_true", help="stop the replica once drained")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=None, help="haproxy port (default free)")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, default=None)
    parser.add_argument("--redis-mb", type=int, default=256)
    args = parser.parse_args(argv)
    if args.cmd == "drain":
        return _drain(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
