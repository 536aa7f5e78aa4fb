#!/usr/bin/env python3
"""Soak: the suite on free ports under a steady mixed load, RSS sampled every minute.

Started by `scripts/chaos soak`. Brings up a throw-away PostgreSQL 15 cluster
(tests/clinic-records/test_pg.sh), the fake LLM, the four backends and the gateway from
build/bin on free ports, drives a mixed load through the gateway (event-ingest writes and
reads, rem-store record writes and reads, clinic-records patient writes and reads,
chat-cache chats, /healthz) at a fixed rate, and samples every process's VmRSS from
/proc once a minute. The warm-up starts by writing 20,000 rem-store records and 20,000
events in batches, so the stores' bounded memtables, tables and caches are full before
the baseline (see Driver.prefill). Fails (exit 1) when any process's RSS grows more than --max-growth
(10 %) above its value at the end of the warm-up, or when a request gets no answer or
an unexpected status. Prints a table and writes var/chaos/soak.tsv.
"""
import argparse, http.client, json, os, random, signal, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from ports import free_port  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Suite:
    def __init__(self, bin_dir, work):
        self.bin_dir, self.work, self.procs = bin_dir, work, {}
        self.pg_state = os.path.join(work, "pg-state")
        self.pg_script = os.path.join(ROOT, "tests/clinic-records/test_pg.sh")

    def start(self, name, binary, args):
        log = open(os.path.join(self.work, name + ".log"), "w")
        self.procs[name] = subprocess.Popen([os.path.join(self.bin_dir, binary)] + args,
                                            stdout=log, stderr=subprocess.STDOUT)

    def up(self):
        subprocess.run([self.pg_script, "start", self.pg_state], check=True,
                       stdout=subprocess.DEVNULL)
        pg_uri = open(os.path.join(self.pg_state, "uri")).read().strip()
        tcp = lambda p: f"tcp://127.0.0.1:{p}"
        llm = free_port()
        self.start("fake-llm", "fake-llm", [f"--listen=127.0.0.1:{llm}"])
        bus = {s: free_port() for s in ("clinic-records", "chat-cache", "event-ingest", "rem-store")}
        pub = free_port()
        common = lambda s: [f"--bus={tcp(bus[s])}", f"--metrics=127.0.0.1:{free_port()}", "--workers=2"]
        self.start("clinic-records", "clinic-records", common("clinic-records") + [f"--pg={pg_uri}", "--pg-pool=3"])
        self.start("chat-cache", "chat-cache", common("chat-cache") + [f"--llm=http://127.0.0.1:{llm}"])
        # Small RocksDB caches and memtables: they are bounded, and the soak looks for
        # growth beyond them, so they must be full by the end of the warm-up (with the
        # defaults, 2 x 4 MiB memtables + 8 MiB cache, event-ingest still grows 20 % in
        # the 2 minutes after a 1-minute warm-up at 200 requests/s, from filling them).
        self.start("event-ingest", "event-ingest", common("event-ingest") + [
            f"--data-dir={self.work}/event-ingest", f"--pub={tcp(pub)}",
            "--memtable-mb=1", "--block-cache-mb=1"])
        self.start("rem-store", "rem-store", common("rem-store") + [
            f"--data-dir={self.work}/rem-store", "--memtable-mb=1", "--block-cache-mb=1"])
        self.http_port = free_port()
        # One admin key for the soak's requests, minted as an operator would.
        global API_KEY
        minted = subprocess.run([os.path.join(self.bin_dir, "gateway"),
                                 "--mint-api-key=soak:default:admin"],
                                check=True, capture_output=True, text=True).stdout.splitlines()
        API_KEY = minted[0].strip()
        keys_file = os.path.join(self.work, "api-keys")
        with open(keys_file, "w") as f:
            f.write(minted[1] + "\n")
        self.start("gateway", "gateway", [f"--http=127.0.0.1:{self.http_port}",
                                          f"--api-keys-file={keys_file}", "--rate-limit=0",
                                          f"--metrics=127.0.0.1:{free_port()}", "--threads=2",
                                          f"--sub-event-ingest={tcp(pub)}"] +
                   [f"--backend-{s}={tcp(p)}" for s, p in bus.items()])
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if request(self.http_port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the suite did not come up; logs in {self.work}")

    def down(self):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([self.pg_script, "stop", self.pg_state], stdout=subprocess.DEVNULL)


API_KEY = ""  # set by up() once the key is minted


def request(port, method, path, body=None, conn=None):
    """The one place the soak sends HTTP, with the soak's API key."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(body) if body is not None else None
    headers = {"X-API-Key": API_KEY} if API_KEY else {}
    if data:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    payload = r.read()
    if conn is None:
        c.close()
    return r.status, payload


class Driver:
    """Worker threads sending a weighted mix at a fixed total rate."""

    def __init__(self, port, rate, workers):
        self.port, self.rate, self.workers = port, rate, workers
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.counts, self.failures, self.ids = {}, [], {"rem": [], "patient": []}

    def setup(self):
        st, _ = request(self.port, "POST", "/api/rem/schemas", {
            "name": "soak", "key_field": "handle",
            "schema": {"type": "object", "required": ["handle"],
                       "properties": {"handle": {"type": "string"}, "n": {"type": "integer"}}}})
        if st not in (200, 201):
            raise SystemExit(f"rem-store schema: {st}")
        self.prefill()

    def prefill(self, batches=40, per_batch=500):
        """Part of the warm-up: writes enough to the RocksDB stores that their bounded
        memtables flush, their tables compact and their caches fill before the baseline
        is taken. At the mix's own write rate that takes longer than the warm-up, so the
        growth measured after it would be buffers filling, not memory leaking."""
        run = os.getpid()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for b in range(batches):
            records = [{"handle": f"pre-{run}-{b}-{i}", "n": i} for i in range(per_batch)]
            st, body = request(self.port, "POST", "/api/rem/types/soak/records/batch",
                               {"records": records}, conn)
            if st != 201:
                raise SystemExit(f"rem-store prefill: {st} {body[:200]!r}")
            self.ids["rem"].extend(o["id"] for o in json.loads(body)["upserted"])
            events = [{"session_id": f"soak-{i % 50}", "agent_type": "soak", "event_type": "tool_use",
                       "tokens_in": 3, "tokens_out": 5, "event_id": f"pre-{run}-{b}-{i}"}
                      for i in range(per_batch)]
            st, body = request(self.port, "POST", "/api/events/batch", {"events": events}, conn)
            if st not in (200, 201):
                raise SystemExit(f"event-ingest prefill: {st} {body[:200]!r}")
        conn.close()

    def one(self, conn, n):
        kind = random.choices(["event", "events", "rem_put", "rem_get", "patient_put",
                               "patient_get", "chat", "healthz"], [25, 10, 15, 15, 10, 10, 10, 5])[0]
        run = os.getpid()
        if kind == "event":
            return kind, (201,), request(self.port, "POST", "/api/events", {
                "session_id": f"soak-{n % 50}", "agent_type": "soak", "event_type": "tool_use",
                "tokens_in": 3, "tokens_out": 5, "event_id": f"soak-{run}-{n}"}, conn)
        if kind == "events":
            return kind, (200,), request(self.port, "GET", f"/api/events?limit=20&session_id=soak-{n % 50}", None, conn)
        if kind == "rem_put":
            st, body = request(self.port, "POST", "/api/rem/types/soak/records",
                               {"record": {"handle": f"h-{n}", "n": n}}, conn)
            if st == 201:
                with self.lock:
                    self.ids["rem"].append(json.loads(body)["id"])
            return kind, (201,), (st, body)
        if kind == "rem_get" and self.ids["rem"]:
            return kind, (200,), request(self.port, "GET", "/api/rem/records/" + random.choice(self.ids["rem"]), None, conn)
        if kind == "patient_put":
            st, body = request(self.port, "POST", "/api/patients", {
                "clinic_number": f"SOAK-{run}-{n}", "first_name": "Soak", "last_name": f"P{n}"}, conn)
            if st == 201:
                with self.lock:
                    self.ids["patient"].append(str(json.loads(body)["id"]))
            return kind, (201,), (st, body)
        if kind == "patient_get" and self.ids["patient"]:
            return kind, (200,), request(self.port, "GET", "/api/patients/" + random.choice(self.ids["patient"]), None, conn)
        if kind == "chat":
            # A small set of prompts: mostly cache hits, some misses through the fake LLM.
            return kind, (200,), request(self.port, "POST", "/api/chat", {
                "model": "soak", "messages": [{"role": "user", "content": f"question {n % 200}"}],
                "stream": False}, conn)
        return "healthz", (200,), request(self.port, "GET", "/healthz", None, conn)

    def worker(self, index, counter):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        interval = self.workers / self.rate
        next_at = time.time()
        while not self.stop.is_set():
            with self.lock:
                n = counter[0]
                counter[0] += 1
            try:
                kind, expected, (status, body) = self.one(conn, n)
            except (OSError, http.client.HTTPException) as e:
                kind, expected, status, body = "connection", (), 0, str(e).encode()
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self.lock:
                self.counts[kind] = self.counts.get(kind, 0) + 1
                if status not in expected and len(self.failures) < 1000:
                    self.failures.append(f"{kind}: {status} {body[:200]!r}")
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))

    def run_in_background(self):
        counter = [0]
        self.threads = [threading.Thread(target=self.worker, args=(i, counter), daemon=True)
                        for i in range(self.workers)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup-minutes", type=float, default=1)
    ap.add_argument("--sample-seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=200, help="requests per second in total")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--max-growth", type=float, default=0.10)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build/bin"))
    ap.add_argument("--out", default=os.path.join(ROOT, "var/chaos"))
    a = ap.parse_args()
    if a.minutes <= a.warmup_minutes:
        raise SystemExit("--minutes must be longer than --warmup-minutes")
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="suite-soak-")
    os.chmod(work, 0o755)
    suite = Suite(a.bin_dir, work)
    # SIGTERM (a CI time-out, kill) stops the suite and its PostgreSQL too: no orphans.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak: terminated"))
    try:
        suite.up()
        driver = Driver(suite.http_port, a.rate, a.workers)
        driver.setup()
        started = time.time()
        driver.run_in_background()
        samples = []  # (minute, {name: rss_kib})
        while True:
            time.sleep(a.sample_seconds - (time.time() - started) % a.sample_seconds)
            elapsed = (time.time() - started) / 60
            for name, p in suite.procs.items():
                if p.poll() is not None:
                    raise SystemExit(f"{name} exited with {p.returncode}; log {work}/{name}.log")
            samples.append((elapsed, {n: rss_kib(p.pid) for n, p in suite.procs.items()}))
            print(f"soak {elapsed:5.1f} min: " + " ".join(f"{n}={r // 1024}MiB" for n, r in samples[-1][1].items()),
                  flush=True)
            if elapsed >= a.minutes - 1e-6:
                break
        driver.finish()
    finally:
        suite.down()
    baseline = next((s for m, s in samples if m >= a.warmup_minutes - 1e-6), samples[0][1])
    names = list(baseline)
    failed = []
    with open(os.path.join(a.out, "soak.tsv"), "w") as f:
        f.write("minute\t" + "\t".join(f"{n}_rss_kib" for n in names) + "\n")
        for m, s in samples:
            f.write(f"{m:.2f}\t" + "\t".join(str(s[n]) for n in names) + "\n")
    print("\nprocess          after warm-up   last      peak      growth")
    for n in names:
        after = [s[n] for m, s in samples if m >= a.warmup_minutes - 1e-6]
        growth = (max(after) - baseline[n]) / baseline[n] if baseline[n] else 0
        print(f"{n:16} {baseline[n] // 1024:8} MiB {after[-1] // 1024:6} MiB {max(after) // 1024:6} MiB  {growth * 100:+6.1f} %")
        if growth > a.max_growth:
            failed.append(f"{n} RSS grew {growth * 100:.1f} % after warm-up (limit {a.max_growth * 100:.0f} %)")
    total = sum(driver.counts.values())
    print(f"\nrequests: {total} ({', '.join(f'{k} {v}' for k, v in sorted(driver.counts.items()))})")
    print(f"unexpected answers: {len(driver.failures)}")
    for line in driver.failures[:10]:
        print("  " + line)
    if driver.failures:
        failed.append(f"{len(driver.failures)} requests got an unexpected answer")
    for line in failed:
        print("FAIL: " + line, file=sys.stderr)
    if failed:
        print(f"logs kept in {work}", file=sys.stderr)
        return 1
    subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
