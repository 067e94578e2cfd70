"""The cluster's processes: redis-server, Streamlit replicas and haproxy, each started on a
loopback port, waited for by its state (a port answering, a health endpoint), stopped by pid.

Used by ``cluster/run.py`` (``make cluster``), the ``cluster`` tests and ``bench/cluster_bench.py``.
Every wait is bounded and polls a state; nothing sleeps for luck.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SBIN = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in SBIN:
        p = Path(d) / name
        if p.exists():
            return str(p)
    return None


def require_binary(name: str) -> str:
    found = find_binary(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install -y {name})")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, interval: float = 0.05):
    """Poll ``check()`` until it returns a truthy value (returned) or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    last = None
    while True:  # checked at least once, however short the timeout
        try:
            value = check()
        except Exception as exc:  # noqa: BLE001 - the state is not reached yet
            last = exc
            value = None
        if value:
            return value
        if time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what}: not reached within {timeout:.0f} s (last: {last!r})")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Proc:
    """One child process with its log file; ``stop()`` sends SIGTERM then SIGKILL (bounded)."""

    name = "process"

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def _spawn(self, argv: list[str], log_path: Path, env: dict | None = None,
               cwd: Path = ROOT) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env=env, start_new_session=True)
        log.close()

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL (a crash, as the tests simulate it)."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)


class Redis(Proc):
    """redis-server bound to 127.0.0.1 with a password, ``maxmemory`` and ``allkeys-lru``, no
    persistence (a cache). The config file (it holds the password) is written mode 0600."""

    name = "redis"

    def __init__(self, run_dir: Path, *, password: str, port: int | None = None,
                 maxmemory_mb: int = 64):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.password = password
        self.port = port or free_port()
        self.maxmemory_mb = maxmemory_mb

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        binary = require_binary("redis-server")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        conf = self.run_dir / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\n"
                    f"requirepass {self.password}\nmaxmemory {self.maxmemory_mb}mb\n"
                    f"maxmemory-policy allkeys-lru\nsave \"\"\nappendonly no\n"
                    f"dir {self.run_dir}\ndaemonize no\n")
        self._spawn([binary, str(conf)], self.run_dir / "redis.log")
        wait_for(self.ping, timeout, f"redis-server on port {self.port}")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=2, socket_connect_timeout=1)

    def ping(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"redis-server exited (see {self.log_path})")
        c = self.client()
        try:
            return bool(c.ping())
        finally:
            c.close()


class Replica(Proc):
    """One Streamlit server (``Home.py``) on a loopback port; healthy when
    ``/_stcore/health`` answers 200."""

    def __init__(self, name: str, run_dir: Path, *, port: int | None = None,
                 env: dict | None = None, entry: str | None = None):
        super().__init__()
        self.entry = entry  # a script run instead of ``streamlit run Home.py`` (bench/serve.py)
        self.name = name
        self.run_dir = Path(run_dir)
        self.port = port or free_port()
        self.env = env or {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "OPTIONS_DASH_REPLICA": self.name}
        argv = ([sys.executable, self.entry] if self.entry else
                [sys.executable, "-m", "streamlit", "run", str(ROOT / "Home.py")]) + [
                "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none"]
        self._spawn(argv, self.run_dir / f"{self.name}.log", env)

    def healthy(self) -> bool:
        if not self.alive():
            raise RuntimeError(f"replica {self.name} exited (see {self.log_path})")
        return http_ok(self.base + "/_stcore/health")

    def wait_healthy(self, timeout: float = 90.0) -> None:
        wait_for(self.healthy, timeout, f"replica {self.name} health", interval=0.2)


HAPROXY_CFG = """\
global
    log stdout format raw local0
    stats socket {sock} mode 600 level admin
    maxconn 4096

defaults
    mode http
    log global
    option httplog
    option redispatch 1
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
    timeout check 5s

frontend app
    bind {bind}:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    cookie ODREPLICA insert indirect nocache httponly
    option httpchk GET /_stcore/health
    http-check expect status 200
    default-server check inter 1s fall 3 rise 1 maxconn 1000
    http-response set-header X-Replica %s
{servers}
"""


class Haproxy(Proc):
    """haproxy in front of the replicas: cookie stickiness (``ODREPLICA``), WebSocket upgrade
    (HTTP mode tunnels the ``/_stcore/stream`` upgrade; ``timeout tunnel`` keeps it open), health
    checks on ``/_stcore/health``, ``option redispatch`` so a request for a dead replica goes to
    a live one, an admin socket for drains. ``X-Replica`` names the server that answered."""

    name = "haproxy"

    def __init__(self, run_dir: Path, replicas: list[Replica], *, port: int | None = None,
                 bind: str = "127.0.0.1"):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.replicas = replicas
        self.port = port or free_port()
        self.bind = bind
        self.sock = self.run_dir / "haproxy.sock"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} cookie {r.name}"
                            for r in self.replicas)
        return HAPROXY_CFG.format(sock=self.sock, bind=self.bind, port=self.port,
                                  servers=servers)

    def start(self, timeout: float = 20.0) -> None:
        binary = require_binary("haproxy")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.run_dir / "haproxy.cfg"
        cfg.write_text(self.config())
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy config rejected: {check.stdout}{check.stderr}")
        self._spawn([binary, "-db", "-f", str(cfg)], self.run_dir / "haproxy.log")
        wait_for(lambda: self.alive() and port_open(self.port) and self.sock.exists(),
                 timeout, f"haproxy on port {self.port}")

    def admin(self, command: str) -> str:
        """One command on the admin socket (``show stat``, ``set server replicas/r1 state
        drain``, ...)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.sock))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict]:
        """``show stat`` of the backend's servers: name -> {status, scur, stot, ...}."""
        lines = self.admin("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "replicas" and row.get("svname") not in ("BACKEND",
                                                                              "FRONTEND"):
                out[row["svname"]] = row
        return out

    def wait_up(self, names: list[str], timeout: float = 30.0) -> None:
        wait_for(lambda: all(self.servers().get(n, {}).get("status", "").startswith("UP")
                             for n in names), timeout, f"haproxy sees {names} UP", interval=0.1)

    def drain(self, name: str, timeout: float = 60.0) -> None:
        """Stop sending new sessions to ``name``; return when its open sessions have ended
        (its users' websockets closed) or ``timeout`` s passed. Sticky users keep their
        replica while draining; nobody else notices."""
        self.admin(f"set server replicas/{name} state drain")
        try:
            wait_for(lambda: self.servers()[name].get("scur") == "0", timeout,
                     f"{name} drained", interval=0.2)
        except TimeoutError:
            pass
        self.admin(f"set server replicas/{name} state maint")
