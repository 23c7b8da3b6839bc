"""Latency, throughput and memory of `unclip-run serve` under the official openai client.

Starts the server on the built-in weights (or --weights), then sends `n=1, size=256x256, response_format=b64_json`
generations with the model's default steps:
  1. one client, --single requests back to back: latency p50 / p95;
  2. --clients concurrent clients, --concurrent requests in all: latency p50 / p95 and throughput (images/s);
  3. RSS of the server process after every request of both phases and of more requests up to --total (a leak shows
     as a rising line; flat is the goal).
Prints a table and writes JSON (--json). The CLI's own time for the same request (`unclip-run generate`, one image, a
new process each time, loading included) is measured beside it for reference.

    python3 scripts/bench_serve.py --total 200 --json /tmp/bench-serve.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import openai

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "unclip-run"))
    ap.add_argument("--weights", default=os.path.join(ROOT, "weights", "unclip-builtin.safetensors"))
    ap.add_argument("--single", type=int, default=20, help="requests of the one-client phase")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--concurrent", type=int, default=40, help="requests of the concurrent phase")
    ap.add_argument("--total", type=int, default=200, help="requests in all (the rest run after, for RSS)")
    ap.add_argument("--server-args", default="", help="extra serve options, e.g. '--max-concurrent 2'")
    ap.add_argument("--json")
    args = ap.parse_args()

    proc = subprocess.Popen([args.binary, "serve", "--port", "0", "--weights", args.weights, "--max-queue", "64",
                             "--log-level", "warning", *args.server_args.split()], stdout=subprocess.PIPE, text=True)
    base = proc.stdout.readline().split("listening on ")[1].split()[0]
    client = openai.OpenAI(base_url=base, api_key="bench", max_retries=0, timeout=600)
    rss = [("start", 0, rss_mib(proc.pid))]
    done = [0]
    lock = threading.Lock()

    def request(seed):
        t = time.perf_counter()
        r = client.images.generate(prompt="a red circle on a blue background", size="256x256", response_format="b64_json",
                                   extra_body={"seed": seed})
        assert len(r.data) == 1
        dt = time.perf_counter() - t
        with lock:
            done[0] += 1
            rss.append(("req", done[0], rss_mib(proc.pid)))
        return dt

    request(0)                                              # warm-up (first request: page faults of the weights)
    single = [request(i + 1) for i in range(args.single)]

    latencies = []

    def worker(k):
        for i in range(k, args.concurrent, args.clients):
            dt = request(1000 + i)
            with lock:
                latencies.append(dt)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0

    remaining = args.total - done[0]
    threads = [threading.Thread(target=lambda k=k: [request(5000 + i) for i in range(k, remaining, args.clients)])
               for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    cli = []
    for i in range(3):
        t = time.perf_counter()
        subprocess.run([args.binary, "generate", "--weights", args.weights, "--seed", str(i), "--quiet", "--output",
                        f"/tmp/bench-serve-cli-{os.getpid()}.png", "a red circle on a blue background"], check=True,
                       capture_output=True)
        cli.append(time.perf_counter() - t)
    os.remove(f"/tmp/bench-serve-cli-{os.getpid()}.png")
    proc.terminate()
    proc.wait(timeout=120)

    values = [r for _, _, r in rss]
    after = {n: r for _, n, r in rss if n in (1, 10, 50, 100, 150, args.total)}
    result = {
        "requests": done[0],
        "single": {"n": len(single), "p50_s": percentile(single, 50), "p95_s": percentile(single, 95),
                   "mean_s": statistics.mean(single)},
        "concurrent": {"clients": args.clients, "n": len(latencies), "p50_s": percentile(latencies, 50),
                       "p95_s": percentile(latencies, 95), "images_per_s": len(latencies) / wall, "wall_s": wall},
        "single_client_images_per_s": len(single) / sum(single),
        "rss_mib": {"start": values[0], "after": after, "max": max(values),
                    "last_100_slope_mib_per_100": values[-1] - values[max(0, len(values) - 101)]},
        "cli_generate_s": cli,
        "server_args": args.server_args,
    }
    print(f"requests: {done[0]} (n=1, 256x256, b64_json, default steps)")
    print(f"1 client:  p50 {result['single']['p50_s']:.2f} s  p95 {result['single']['p95_s']:.2f} s  "
          f"{result['single_client_images_per_s']:.3f} images/s")
    c = result["concurrent"]
    print(f"{args.clients} clients: p50 {c['p50_s']:.2f} s  p95 {c['p95_s']:.2f} s  {c['images_per_s']:.3f} images/s")
    print(f"RSS MiB: start {values[0]:.0f}, " + ", ".join(f"after {n}: {r:.0f}" for n, r in sorted(after.items()))
          + f", max {max(values):.0f}")
    print("CLI generate (new process, loading included): " + ", ".join(f"{x:.2f} s" for x in cli))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
