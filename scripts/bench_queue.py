"""The shared queue's cost and throughput (issue #19), with a throwaway PostgreSQL (scripts/pgcluster.py).

1. Per-job queue overhead: the same trivial job (256x256, two steps per stage, b64_json) sent --trivial times back to
   back to an in-process `unclip-run serve` and to `serve --queue` + one `unclip-run worker`, in one run; the
   difference of the medians is what the queue adds (enqueue, NOTIFY, claim, lease, store, NOTIFY, fetch). The
   worker's own compute time (its unclip_job_duration_seconds) is printed beside it.
2. Throughput, --jobs requests with the model's default steps from --clients concurrent clients through one API node:
   one worker with --threads 2; two workers with --threads 1 each; two workers with --threads 2 each (oversubscribed).
   On a machine where the cores are the limit, more workers add no throughput.
Prints a table; --json writes the numbers.

    python3 scripts/bench_queue.py --trivial 50 --jobs 16 --json /tmp/bench-queue.json
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgcluster import Cluster  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TRIVIAL = {"prior_steps": 2, "decoder_steps": 2, "super_res_steps": 2}   # the fewest the schedulers take


STARTED = []


def start(args, *cmd):
    p = subprocess.Popen([args.binary, *cmd, "--weights", args.weights, "--port", "0", "--log-level", "warning"],
                         stdout=subprocess.PIPE, text=True)
    STARTED.append(p)
    line = p.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+(/v1)?", line)
    assert url, line
    return p, url.group(0)


def stop(*procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=120)


def latencies(base, count, extra):
    client = openai.OpenAI(base_url=base, api_key="bench", max_retries=0, timeout=600)
    out = []
    for i in range(count):
        t = time.perf_counter()
        client.images.generate(prompt="a red circle", size="256x256", response_format="b64_json", extra_body={"seed": i, **extra})
        out.append(time.perf_counter() - t)
    return out


def throughput(base, jobs, clients):
    client = openai.OpenAI(base_url=base, api_key="bench", max_retries=0, timeout=1200)
    lock, next_job, times = threading.Lock(), [0], []

    def run():
        while True:
            with lock:
                if next_job[0] >= jobs:
                    return
                i = next_job[0]
                next_job[0] += 1
            t = time.perf_counter()
            client.images.generate(prompt="a red circle", size="256x256", response_format="b64_json", extra_body={"seed": i})
            times.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"images_per_s": jobs / wall, "wall_s": wall, "p50_s": statistics.median(times)}


def worker_compute(url):
    import urllib.request
    text = urllib.request.urlopen(url + "/metrics").read().decode()
    s = float(re.search(r"^unclip_job_duration_seconds_sum (\S+)", text, re.M).group(1))
    n = float(re.search(r"^unclip_job_duration_seconds_count (\S+)", text, re.M).group(1))
    return s / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "unclip-run"))
    ap.add_argument("--weights", default=os.path.join(ROOT, "weights", "unclip-builtin.safetensors"))
    ap.add_argument("--trivial", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--json")
    args = ap.parse_args()
    pg = Cluster().start()
    result = {"cpu_count": os.cpu_count()}
    try:
        local, base = start(args, "serve")
        latencies(base, 3, TRIVIAL)
        result["local_trivial_s"] = latencies(base, args.trivial, TRIVIAL)
        stop(local)
        api, base = start(args, "serve", "--queue", pg.url, "--max-queue", "1000")
        worker, wurl = start(args, "worker", "--queue", pg.url)
        latencies(base, 3, TRIVIAL)
        result["queue_trivial_s"] = latencies(base, args.trivial, TRIVIAL)
        result["worker_compute_trivial_s"] = worker_compute(wurl)
        stop(worker)
        for name, workers in [("1 worker x 2 threads", [["--threads", "2"]]),
                              ("2 workers x 1 thread", [["--threads", "1"], ["--threads", "1"]]),
                              ("2 workers x 2 threads", [["--threads", "2"], ["--threads", "2"]])]:
            procs = [start(args, "worker", "--queue", pg.url, *w)[0] for w in workers]
            result[name] = throughput(base, args.jobs, args.clients)
            stop(*procs)
        stop(api)
    finally:
        for p in STARTED:
            if p.poll() is None:
                p.kill()
        pg.destroy()
    lm, qm = statistics.median(result["local_trivial_s"]), statistics.median(result["queue_trivial_s"])
    print(f"trivial job (2 steps per stage), {args.trivial} back to back, median end to end:")
    print(f"  in-process serve      {lm * 1000:8.1f} ms")
    print(f"  serve --queue + worker {qm * 1000:7.1f} ms   (worker compute {result['worker_compute_trivial_s'] * 1000:.1f} ms)")
    print(f"  queue overhead        {(qm - lm) * 1000:8.1f} ms per job")
    print(f"throughput, {args.jobs} jobs at default steps, {args.clients} clients, one API node ({os.cpu_count()} cores):")
    for name in ["1 worker x 2 threads", "2 workers x 1 thread", "2 workers x 2 threads"]:
        r = result[name]
        print(f"  {name:24s} {r['images_per_s']:.3f} images/s  (wall {r['wall_s']:.1f} s, p50 {r['p50_s']:.2f} s)")
    result["queue_overhead_ms"] = (qm - lm) * 1000
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
