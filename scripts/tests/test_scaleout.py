"""Scale-out (issue #19): API nodes (`unclip-run serve --queue`) and workers (`unclip-run worker`) as separate processes
around a real PostgreSQL (a throwaway cluster on 127.0.0.1, scripts/pgcluster.py; Debian's `postgresql` package),
driven by the official `openai` client.

A dozen concurrent requests through two nodes and three workers with one worker SIGKILLed mid-job (every request
answered once, each picture equal to `unclip-run generate --seed`); an API node restarted while its jobs wait;
PostgreSQL stopped and started under load (503 with a clear message, then recovery); a client that disconnects
cancels its job on the worker; a job whose workers keep dying fails with 500 and the reason; expired pictures are
deleted; /metrics and /health on nodes and workers.
"""
import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
from pgcluster import Cluster  # noqa: E402
from test_serve import BINARY, FAST, WEIGHTS, Server, picture  # noqa: E402

openai = pytest.importorskip("openai") if os.environ.get("CI") is None else __import__("openai")
if os.environ.get("CI") is None and not os.path.exists("/usr/lib/postgresql"):
    pytest.skip("needs Debian's postgresql package (CI installs it)", allow_module_level=True)

LEASE = "2"          # seconds: a dead worker's job is taken over quickly
SLOW = {"prior_steps": 5, "decoder_steps": 40, "super_res_steps": 3}   # long enough to be killed mid-job


class Worker:
    """A running `unclip-run worker`."""

    def __init__(self, queue, *args, name=None):
        self.log_path = f"/tmp/unclip-worker-test-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BINARY, "worker", "--queue", queue, "--weights", WEIGHTS, "--port", "0", "--threads", "1",
                                      "--lease-seconds", LEASE, *(["--name", name] if name else []), *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert "health and metrics on http://127.0.0.1:" in line, f"worker did not start: {line!r} {self.log_text()}"
        self.base = line.rsplit(" ", 1)[1].strip()

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as f:
                return f.status, f.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def running(self):
        return json.loads(self.get("/health")[1])["running"]

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)
        self.log.close()
        os.remove(self.log_path)


def node(queue, *args):
    return Server("--queue", queue, *args)


def metric(text, name):
    """Sum of a metric's samples (all labels)."""
    return sum(float(m.group(1)) for m in re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def wait_for(predicate, seconds, what):
    t = time.monotonic()
    while not predicate():
        assert time.monotonic() - t < seconds, f"timed out after {seconds} s waiting for {what}"
        time.sleep(0.05)


def post_raw(port, fields):
    """Sends a generation by hand and returns the open socket (closing it is the client going away)."""
    body = json.dumps(fields).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return sock


def generate(server, seed, results, key, steps=FAST, timeout=600):
    try:
        r = server.client(timeout=timeout).images.generate(prompt="a red circle on a blue background", size="256x256",
                                                           response_format="b64_json", extra_body={"seed": seed, **steps})
        results[key] = r
    except Exception as e:  # noqa: BLE001
        results[key] = e


def cli_pictures(tmp_path, seed, count, steps=FAST):
    out = tmp_path / f"cli-{seed}.png"
    subprocess.run([BINARY, "generate", "--weights", WEIGHTS, "--seed", str(seed), "-n", str(count), "--output", str(out),
                    "--quiet", "--prior-steps", str(steps["prior_steps"]), "--decoder-steps", str(steps["decoder_steps"]),
                    "--super-res-steps", str(steps["super_res_steps"]), "a red circle on a blue background"],
                   check=True, capture_output=True)
    if count == 1:
        return [np.asarray(Image.open(out).convert("RGB"))]
    return [np.asarray(Image.open(tmp_path / f"cli-{seed}-{k + 1}.png").convert("RGB")) for k in range(count)]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster().start()
    yield c
    c.destroy()


@pytest.fixture()
def fresh(cluster):
    """An empty queue for each test (the schema stays)."""
    yield cluster
    cluster.sql("DO $$ BEGIN IF to_regclass('unclip_jobs') IS NOT NULL THEN DELETE FROM unclip_jobs; END IF; END $$")


def test_a_dozen_requests_two_nodes_three_workers_one_killed(fresh, tmp_path):
    q = fresh.url
    nodes = [node(q), node(q)]
    workers = [Worker(q, name=f"w{i}") for i in range(3)]
    try:
        results, threads = {}, []
        for i in range(12):
            t = threading.Thread(target=generate, args=(nodes[i % 2], 500 + i, results, i))
            t.start()
            threads.append(t)
        # A worker mid-job: its job started 0.3 s ago (jobs take seconds) and its lease is fresh.
        busy = []
        wait_for(lambda: busy.extend(r[0] for r in fresh.sql(
            "SELECT worker FROM unclip_jobs WHERE state = 'running' AND started_at < now() - interval '300 ms'"
            " AND lease_expires_at > now() + interval '1 s'")) or busy, 60, "a worker well into a job")
        victim = workers[int(busy[0][1:])]
        victim.kill()                                        # its lease expires and another worker reruns the job
        for t in threads:
            t.join(timeout=600)
        errors = {k: v for k, v in results.items() if isinstance(v, Exception)}
        assert not errors, errors
        assert sorted(results) == list(range(12))
        expected = cli_pictures(tmp_path, 500, 12)
        for i in range(12):
            assert len(results[i].data) == 1
            got = picture(results[i].data[0].b64_json)
            assert np.array_equal(got, expected[i]), f"request {i} (seed {500 + i}) differs from `unclip-run generate --seed`"
        rows = fresh.sql("SELECT count(*), count(*) FILTER (WHERE state = 'done'), max(attempts) FROM unclip_jobs")
        assert rows[0][:2] == ["12", "12"], rows
        assert int(rows[0][2]) >= 2, "the killed worker's job was not rerun"
        assert fresh.sql("SELECT count(*), count(DISTINCT job_id) FROM unclip_images") == [["12", "12"]]
        survivors = [w for w in workers if w is not victim]
        text = "".join(w.get("/metrics")[1] for w in survivors)
        assert metric(text, "unclip_worker_leases_lost_total") >= 1
        assert metric(text, "unclip_images_total") == 12 - int(fresh.sql(
            "SELECT count(*) FROM unclip_jobs WHERE worker = 'w%d'" % workers.index(victim))[0][0])
        assert metric(text, "unclip_stage_duration_seconds_count") > 0
        node_text = "".join(urllib.request.urlopen(n.base.replace("/v1", "/metrics")).read().decode() for n in nodes)
        assert metric(node_text, "unclip_jobs_total") >= 12
        assert re.search(r'^unclip_queue_jobs\{state="done"\} 12', node_text, re.M), node_text[:2000]
        assert nodes[0].health()["queue"].startswith("postgres://postgres@127.0.0.1")
    finally:
        for w in workers:
            w.stop() if w.proc.poll() is None else (w.log.close(), os.remove(w.log_path))
        for n in nodes:
            n.stop()


def test_an_api_node_restarted_while_its_jobs_wait_loses_none(fresh):
    q = fresh.url
    a = node(q)
    results, threads = {}, []
    for i in range(3):
        t = threading.Thread(target=generate, args=(a, 700 + i, results, i))
        t.start()
        threads.append(t)
    wait_for(lambda: fresh.sql("SELECT count(*) FROM unclip_jobs WHERE state = 'queued'") == [["3"]], 30, "3 queued jobs")
    a.proc.send_signal(signal.SIGTERM)                       # restart: no new requests, the waiting ones are answered
    time.sleep(0.5)
    w = Worker(q)
    try:
        for t in threads:
            t.join(timeout=300)
        assert all(not isinstance(results[i], Exception) for i in range(3)), results
        assert a.proc.wait(timeout=60) == 0
        a.stop()
        a = node(q)                                          # back up: takes requests again
        r = a.client().images.generate(prompt="a red circle", size="256x256", response_format="b64_json", extra_body=FAST)
        assert r.data[0].b64_json
        assert fresh.sql("SELECT count(*) FROM unclip_jobs WHERE state = 'done'") == [["4"]]
        # A node killed outright: its queued job still runs (its caller is gone; the picture waits at its URL).
        b = node(q)
        sock = post_raw(b.port, {"prompt": "a red circle", "size": "256x256", **FAST})
        wait_for(lambda: fresh.sql("SELECT count(*) FROM unclip_jobs") == [["5"]], 30, "the fifth job")
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        sock.close()
        wait_for(lambda: fresh.sql("SELECT count(*) FROM unclip_jobs WHERE state = 'done'") == [["5"]], 120, "the orphan job")
        b.log.close()
    finally:
        w.stop()
        a.stop()


def test_postgres_stopped_and_started_during_a_run(fresh):
    q = fresh.url
    a = node(q)
    w = Worker(q)
    try:
        results = {}
        t = threading.Thread(target=generate, args=(a, 900, results, "inflight", SLOW))
        t.start()
        wait_for(lambda: w.running() == 1, 60, "the job to start")
        fresh.stop()
        with pytest.raises(openai.APIStatusError) as e:
            a.client().images.generate(prompt="a red circle", size="256x256", extra_body=FAST)
        assert e.value.status_code == 503
        assert "job queue is unavailable" in e.value.body["message"]
        with pytest.raises(urllib.error.HTTPError) as h:
            urllib.request.urlopen(a.base.replace("/v1", "/health"))
        assert h.value.code == 503 and json.loads(h.value.read())["status"] == "unavailable"
        time.sleep(3)                                        # longer than the worker's lease
        fresh.start()
        t.join(timeout=300)
        assert not isinstance(results["inflight"], Exception), results["inflight"]
        wait_for(lambda: a.health()["status"] == "ok", 30, "the node to reconnect")
        r = a.client().images.generate(prompt="a red circle", size="256x256", response_format="b64_json",
                                       extra_body={"seed": 901, **FAST})
        assert r.data[0].b64_json
        assert "job queue reachable again" in a.log_text() or "waiting for job" not in a.log_text()
    finally:
        fresh.start()
        w.stop()
        a.stop()


def test_a_client_that_disconnects_cancels_its_job_on_the_worker(fresh):
    q = fresh.url
    a = node(q)
    # While it waits in the queue (no worker yet): withdrawn, never run.
    sock = post_raw(a.port, {"prompt": "a red circle", "size": "256x256", **FAST})
    wait_for(lambda: fresh.sql("SELECT state FROM unclip_jobs") == [["queued"]], 15, "the job to be queued")
    sock.close()
    wait_for(lambda: fresh.sql("SELECT state, attempts FROM unclip_jobs") == [["cancelled", "0"]], 15, "the queued job to be withdrawn")
    fresh.sql("DELETE FROM unclip_jobs")
    w = Worker(q)
    try:
        sock = post_raw(a.port, {"prompt": "a red circle", "size": "256x256", "decoder_steps": 1000})
        wait_for(lambda: w.running() == 1, 60, "the job to start")
        sock.close()
        wait_for(lambda: fresh.sql("SELECT state FROM unclip_jobs") == [["cancelled"]], 15, "the job to be cancelled")
        wait_for(lambda: w.running() == 0, 15, "the worker to stop computing")
        assert "job cancelled by its caller" in w.log_text()
        r = a.client().images.generate(prompt="a red circle", size="256x256", response_format="b64_json", extra_body=FAST)
        assert r.data[0].b64_json
    finally:
        w.stop()
        a.stop()


def test_sigterm_withdraws_jobs_still_waiting_after_the_drain_time(fresh):
    a = node(fresh.url, "--drain-seconds", "1")
    results = {}
    t = threading.Thread(target=generate, args=(a, 1100, results, "r"))
    t.start()
    wait_for(lambda: fresh.sql("SELECT state FROM unclip_jobs") == [["queued"]], 15, "the job to be queued")
    a.proc.send_signal(signal.SIGTERM)                       # no worker will come
    t.join(timeout=30)
    assert isinstance(results["r"], openai.APIStatusError) and results["r"].status_code == 503, results["r"]
    assert "withdrawn" in results["r"].body["message"]
    assert fresh.sql("SELECT state FROM unclip_jobs") == [["cancelled"]]
    assert a.proc.wait(timeout=30) == 0
    a.stop()


def test_a_job_whose_workers_keep_dying_fails_with_500_and_the_reason(fresh):
    q = fresh.url
    a = node(q, "--max-attempts", "2")
    results = {}
    t = threading.Thread(target=generate, args=(a, 1000, results, "r", {**SLOW, "decoder_steps": 1000}))
    t.start()
    try:
        for attempt in (1, 2):
            w = Worker(q)
            wait_for(lambda: w.running() == 1, 60, f"attempt {attempt} to start")
            w.kill()
            w.log.close()
        w = Worker(q)                                        # finds the lease expired on the last attempt: failed
        t.join(timeout=60)
        e = results["r"]
        assert isinstance(e, openai.InternalServerError), e
        assert "tried 2 times" in e.body["message"], e.body
        assert fresh.sql("SELECT state, attempts FROM unclip_jobs") == [["failed", "2"]]
        w.stop()
    finally:
        a.stop()


def test_expired_pictures_are_deleted(fresh):
    q = fresh.url
    a = node(q, "--image-lifetime", "8")
    w = Worker(q, "--image-lifetime", "8")
    b = node(q)                                              # up before the picture exists: the 8 s are for the checks
    try:
        r = a.client().images.generate(prompt="a red circle", size="256x256", extra_body=FAST)
        made = time.monotonic()
        url = r.data[0].url
        assert Image.open(io.BytesIO(urllib.request.urlopen(url).read())).size == (256, 256)
        same = urllib.request.urlopen(url.replace(f":{a.port}/", f":{b.port}/")).read()   # any node serves any URL
        assert same == urllib.request.urlopen(url).read()
        assert time.monotonic() - made < 8, "the checks took longer than the picture's lifetime"
        time.sleep(max(0.0, 8.5 - (time.monotonic() - made)))
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url)
        assert e.value.code == 404
        wait_for(lambda: fresh.sql("SELECT count(*) FROM unclip_images") == [["0"]], 15, "the purge")
    finally:
        w.stop()
        a.stop()
        b.stop()


def test_bad_queue_urls_are_refused():
    for url, message in [("mysql://u@h/db", "is not a postgres://"), ("postgres://h/db", "names no user"),
                         ("postgres://u@h", "names no database"), ("postgres://u@h/db?sslmode=require", "not supported")]:
        for cmd in (["serve"], ["worker"]):
            r = subprocess.run([BINARY, *cmd, "--queue", url], capture_output=True, text=True)
            assert r.returncode != 0 and message in r.stderr, (cmd, url, r.stderr)


def test_streaming_through_the_queue_sends_the_workers_previews(fresh):
    q = fresh.url
    a = node(q)
    w = Worker(q)
    try:
        client = a.client()
        events = list(client.images.generate(prompt="a red circle", size="256x256", stream=True, partial_images=2,
                                              extra_body={"seed": 77, **FAST}))
        kinds = [e.type for e in events]
        assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"], kinds
        assert [e.partial_image_index for e in events[:2]] == [0, 1]
        plain = client.images.generate(prompt="a red circle", size="256x256", response_format="b64_json",
                                       extra_body={"seed": 77, **FAST})
        assert np.array_equal(picture(events[-1].b64_json), picture(plain.data[0].b64_json))
    finally:
        w.stop()
        a.stop()
