#!/usr/bin/env python3
"""stream_bench.py: time to first token of chat-cache through the gateway, against the
fake LLM's own, and the hit ratio of a concurrent repeated-prompt workload, for one or
more builds side by side (e.g. before and after a change), in the same run.

For each build directory it starts fake-llm, chat-cache and the gateway from <dir>/bin
on free ports, then:
  direct   N unique streamed prompts straight to the fake LLM (/api/chat, stream true)
  gateway  N unique streamed prompts through the gateway (all misses)
  workload C concurrent clients, R rounds, each asking one of P prompts (stream true):
           X-Cache HIT/MISS counts and the requests the fake LLM served
Time to first token = time from sending the request to the first byte of the body;
total = time to the end of the body. Figures are medians (and p90) in milliseconds.

The gateway of each build gets a one-run admin key (gateway --mint-api-key) and no rate
limit; every request to it carries the key. Exits 1 when any request through the
gateway fails.

Usage: stream_bench.py [--n=10] [--ttft-ms=200] [--tps=50] [--tokens=50] DIR [DIR...]
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# port -> the X-API-Key header line its gateway expects (the fake LLM needs none)
KEY_HEADERS = {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post_timed(port, path, body):
    """POST, read the whole response; (status, headers, first body byte s, total s, body)."""
    data = json.dumps(body).encode()
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
              + KEY_HEADERS.get(port, b"") + b"Connection: close\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    buf = b""
    first = None
    head = None
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        if head is None and b"\r\n\r\n" in buf:
            head, _, rest = buf.partition(b"\r\n\r\n")
            buf = rest
        if head is not None and buf and first is None:
            first = time.monotonic() - start
    total = time.monotonic() - start
    s.close()
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return status, headers, first if first is not None else total, total, buf


def get_json(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: b\r\n" + KEY_HEADERS.get(port, b"")
              + b"Connection: close\r\n\r\n")
    buf = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        buf += c
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    return json.loads(body)


def chat(prompt):
    return {"model": "fake", "stream": True, "messages": [{"role": "user", "content": prompt}]}


def ms(values):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return "median %.1f ms, p90 %.1f ms" % (statistics.median(values) * 1000, p90 * 1000)


def run(build, args, tag):
    bindir = os.path.join(build, "bin")
    fake, bus, http = free_port(), free_port(), free_port()
    minted = subprocess.run([bindir + "/gateway", "--mint-api-key=bench:default:admin"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    keys_file = tempfile.NamedTemporaryFile("w", prefix="stream-bench-keys-", delete=False)
    keys_file.write(minted[1] + "\n")
    keys_file.close()
    KEY_HEADERS[http] = b"X-API-Key: " + minted[0].encode() + b"\r\n"
    procs = [
        subprocess.Popen([bindir + "/fake-llm", "--listen=127.0.0.1:%d" % fake,
                          "--ttft-ms=%d" % args["ttft"], "--tokens-per-second=%d" % args["tps"],
                          "--tokens=%d" % args["tokens"]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([bindir + "/chat-cache", "--bus=tcp://127.0.0.1:%d" % bus,
                          "--metrics=127.0.0.1:%d" % free_port(),
                          "--llm=http://127.0.0.1:%d" % fake],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([bindir + "/gateway", "--http=127.0.0.1:%d" % http,
                          "--metrics=127.0.0.1:%d" % free_port(),
                          "--backend-chat-cache=tcp://127.0.0.1:%d" % bus, "--timeout-ms=60000",
                          "--api-keys-file=" + keys_file.name, "--rate-limit=0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        for _ in range(200):
            try:
                get_json(http, "/api/cache/stats")
                get_json(fake, "/fake/stats")
                break
            except Exception:
                time.sleep(0.05)
        n = args["n"]
        direct = [post_timed(fake, "/api/chat", chat("%s direct %d" % (tag, i))) for i in range(n)]
        through = [post_timed(http, "/api/chat", chat("%s gateway %d" % (tag, i))) for i in range(n)]
        failed = sum(1 for t in through if t[0] != 200)
        print("[%s] %s" % (tag, build))
        print("  fake LLM direct : first token %s; whole answer %s" %
              (ms([d[2] for d in direct]), ms([d[3] for d in direct])))
        print("  via gateway miss: first token %s; whole answer %s" %
              (ms([t[2] for t in through]), ms([t[3] for t in through])))
        print("  ratio gateway/direct first token (medians): %.2f" %
              (statistics.median([t[2] for t in through]) / statistics.median([d[2] for d in direct])))
        served_before = get_json(fake, "/fake/stats")["requests"]
        stats_before = get_json(http, "/api/cache/stats")
        clients, rounds, prompts = args["clients"], args["rounds"], args["prompts"]
        outcome = {"HIT": 0, "MISS": 0, "other": 0}
        lock = threading.Lock()

        def client(c):
            for r in range(rounds):
                status, headers, _, _, _ = post_timed(http, "/api/chat",
                                                     chat("%s workload %d" % (tag, (c + r) % prompts)))
                with lock:
                    key = headers.get("x-cache", "other") if status == 200 else "other"
                    outcome[key if key in outcome else "other"] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        served = get_json(fake, "/fake/stats")["requests"] - served_before
        stats = get_json(http, "/api/cache/stats")
        total = sum(outcome.values())
        print("  workload %d clients x %d rounds over %d prompts: HIT %d, MISS %d, failed %d, "
              "hit ratio %.3f; LLM served %d; cache stats hits +%d misses +%d" %
              (clients, rounds, prompts, outcome["HIT"], outcome["MISS"], outcome["other"],
               outcome["HIT"] / total, served, stats["hits"] - stats_before["hits"],
               stats["misses"] - stats_before["misses"]))
        failed += outcome["other"]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        os.unlink(keys_file.name)
    return failed


def main():
    args = {"n": 10, "ttft": 200, "tps": 50, "tokens": 50, "clients": 20, "rounds": 5, "prompts": 5}
    builds = []
    for a in sys.argv[1:]:
        if a.startswith("--"):
            k, _, v = a[2:].partition("=")
            args[{"ttft-ms": "ttft"}.get(k, k)] = int(v)
        else:
            builds.append(a)
    if not builds:
        print(__doc__)
        return 2
    print("settings: %s; load average: %s" % (args, open("/proc/loadavg").read().split()[:3]))
    failed = sum(run(b, args, "run%d" % i) for i, b in enumerate(builds))
    print("load average after: %s" % open("/proc/loadavg").read().split()[:3])
    if failed:
        print("%d requests through the gateway failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
