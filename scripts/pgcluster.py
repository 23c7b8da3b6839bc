"""A throwaway PostgreSQL cluster on 127.0.0.1 for the scale-out tests and benchmarks (issue #19).

Debian's `postgresql` package (initdb and pg_ctl under /usr/lib/postgresql/*/bin); as root the server runs as the
`postgres` user. `Cluster().start()` makes a data folder in /tmp, listens on a free port on 127.0.0.1 only (no unix
socket outside the folder), trusts local connections, and creates database `unclip`; `stop()`/`start()` stop and restart
the same cluster (for the outage tests); `destroy()` removes it.

    python3 scripts/pgcluster.py start   # prints the postgres:// URL; the folder and pid stay until `... stop DIR`
"""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def _bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: apt-get install postgresql")
    return found[-1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, folder=None, port=None):
        self.folder = folder or tempfile.mkdtemp(prefix="unclip-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = port or free_port()
        self.root = os.geteuid() == 0
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/unclip"

    def _run(self, *args, check=True):
        cmd = list(args)
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def init(self):
        if self.root:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.folder}'\n"
                    "fsync = off\nsynchronous_commit = off\nmax_connections = 200\n")
        return self

    def start(self):
        if not os.path.exists(self.data):
            self.init()
        if self._run(_bin("pg_ctl"), "-D", self.data, "status", check=False).returncode == 0:
            return self
        self._run(_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.folder, "log"), "-w", "start")
        r = self._run(_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-tAc",
                      "SELECT 1 FROM pg_database WHERE datname = 'unclip'")
        if r.stdout.strip() != "1":
            self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "unclip")
        return self

    def stop(self):
        self._run(_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def sql(self, query):
        """Runs `query` with psql; rows as lists of strings."""
        r = self._run(_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "unclip", "-tA",
                      "-F", "\t", "-c", query)
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def destroy(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "start":
        c = Cluster().start()
        print(c.url, c.folder)
    elif len(sys.argv) == 3 and sys.argv[1] == "stop":
        Cluster(folder=sys.argv[2]).destroy()
    else:
        sys.exit("usage: pgcluster.py start | stop FOLDER")
