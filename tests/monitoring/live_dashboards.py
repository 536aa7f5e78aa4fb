#!/usr/bin/env python3
"""Proves the dashboards and rules against live data.

Starts the local suite (scripts/up) and a real Prometheus on a free loopback port with
the repository's config (rewritten for loopback by localize.py, 1s intervals) and
rules, sends a few requests that give the service-internal panels real samples (EXERCISE:
rem-store schema, records and queries; a chat question twice; an event twice), drives a
short load through the gateway (loadgen when built, else a keep-alive GET loop), then
evaluates through Prometheus' HTTP API every PromQL expression of
every dashboard panel, query variable, recording rule and alert rule. Each must parse; each panel's must return data, except the panels
listed in pending_panels.txt (metrics a later issue adds), and those of NEEDS_VALUES must
show a finite (or positive) number, not only a series. Every rule must also
evaluate without error inside Prometheus.

Everything started here is stopped on the way out, on failure too: every step has
its own timeout and all of them together stay under ctest's TIMEOUT, SIGTERM runs the
clean-up, and Prometheus is tied to this process's life by PR_SET_PDEATHSIG even if
the test is killed outright.
Exits 77 only when prometheus is not installed or scripts/up is not in the tree yet.
"""
import argparse
import concurrent.futures
import ctypes
import glob
import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "monitoring", "prometheus"))
import localize  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "support"))
from ports import free_port  # noqa: E402

BACKENDS = ["clinic-records", "chat-cache", "event-ingest", "rem-store"]
# What the load asks the gateway for: /healthz touches every backend over the bus, and
# each /api/sys/<service>/health is one op on one backend.
LOAD_PATHS = ["/healthz"] + [f"/api/sys/{s}/health" for s in BACKENDS]
# Service-internal panels need more than health checks to show anything: these
# requests (through the gateway, before the load) give each of them real samples.
# (method, path, body, accepted statuses)
EXERCISE = [
    ("POST", "/api/rem/schemas",
     {"name": "live_probe", "key_field": "k", "indexed_fields": ["n"], "embedding_fields": ["t"],
      "schema": {"type": "object", "required": ["k"],
                 "properties": {"k": {"type": "string"}, "n": {"type": "integer"}, "t": {"type": "string"}}}},
     (200, 201)),
    ("POST", "/api/rem/types/live_probe/records", {"record": {"k": "a", "n": 1, "t": "live dashboards probe"}},
     (200, 201)),
    ("POST", "/api/rem/types/live_probe/records", {"record": {"k": "b", "n": 2, "t": "another probe"}},
     (200, 201)),
    ("POST", "/api/rem/query", {"query": "SELECT * FROM live_probe WHERE n = 1"}, (200,)),
    ("POST", "/api/rem/query", {"query": "LOOKUP 'a', 'b'"}, (200,)),
    ("POST", "/api/rem/query", {"query": "SEARCH 'probe' IN live_probe LIMIT 2"}, (200,)),
    # The same question twice: a miss, then a hit.
    ("POST", "/api/chat", {"model": "fake", "messages": [{"role": "user", "content": "live probe"}], "stream": False},
     (200,)),
    ("POST", "/api/chat", {"model": "fake", "messages": [{"role": "user", "content": "live probe"}], "stream": False},
     (200,)),
    # The same event_id twice: stored, then deduplicated.
    ("POST", "/api/events", {"session_id": "live-probe", "agent_type": "claude-code", "event_type": "tool_use",
                             "event_id": "live-probe-1"}, (200, 201)),
    ("POST", "/api/events", {"session_id": "live-probe", "agent_type": "claude-code", "event_type": "tool_use",
                             "event_id": "live-probe-1"}, (200, 201)),
]
# Panels that must show a number, not only a series: at least one sample finite
# ("finite") or finite and above zero ("positive"), so that a series made at start-up
# and never recorded into (a NaN quantile, a 0/0 ratio) does not pass as proof.
NEEDS_VALUES = {
    ("suite-gateway", "Open HTTP connections"): "finite",
    ("suite-chat-cache", "Cache hit ratio"): "positive",
    ("suite-chat-cache", "Evictions/s"): "finite",
    ("suite-chat-cache", "Cache size"): "positive",
    ("suite-event-ingest", "Events ingested and deduplicated /s"): "positive",
    ("suite-event-ingest", "RocksDB memory"): "positive",
    ("suite-rem-store", "Query p99 by type"): "positive",
    ("suite-rem-store", "Index sizes"): "positive",
    ("suite-rem-store", "RocksDB memory"): "positive",
}
# Dashboard variables as the test sets them: every machine, and a rate window that
# holds enough 1s scrapes.
VARIABLES = {"__rate_interval": "1m", "__interval": "15s", "machine": ".+"}
# Set on SIGTERM, so the load threads stop at once and the clean-up can run.
stopping = threading.Event()


def log(*args):
    print(*args, flush=True)


def die_with_parent():
    """Runs in the child: the kernel sends it SIGTERM when this test process dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, http.client.HTTPException) as error:
            last = error
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not within {timeout}s (last error: {last})")


class Prometheus:
    def __init__(self, workdir, interval):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_path = os.path.join(workdir, "prometheus.yml")
        source = os.path.join(REPO, "monitoring", "prometheus", "prometheus.yml")
        config = localize.localize(yaml.safe_load(open(source)), os.path.dirname(source), interval)
        with open(config_path, "w") as f:
            yaml.safe_dump(config, f)
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config_path}", f"--storage.tsdb.path={workdir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        self.jobs = {job["job_name"] for job in config["scrape_configs"]}

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}"
        data = urllib.parse.urlencode(params).encode() if params else None
        try:
            with urllib.request.urlopen(url, data=data, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            # Bad queries answer 400/422 with a JSON body naming the error.
            return json.load(error)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def drive_load(gateway, seconds, max_requests, workers=4):
    """Keep-alive GETs on LOAD_PATHS for `seconds` or `max_requests`, whichever first."""
    host, port = gateway.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    per_worker = max_requests // workers

    def worker(n):
        statuses = {}
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        for i in range(per_worker):
            if time.monotonic() > deadline or stopping.is_set():
                break
            path = LOAD_PATHS[(i + n) % len(LOAD_PATHS)]
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                key = f"{path} {response.status}"
            except (OSError, http.client.HTTPException) as error:
                key = f"{path} {type(error).__name__}"
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=5)
            statuses[key] = statuses.get(key, 0) + 1
        connection.close()
        return statuses

    totals = {}
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for statuses in pool.map(worker, range(workers)):
            for key, count in statuses.items():
                totals[key] = totals.get(key, 0) + count
    return totals


def exercise(gateway, api_key=""):
    """Sends EXERCISE through the gateway (with scripts/up's development key, when it
    made one); returns failures (unexpected statuses)."""
    host, port = gateway.rsplit(":", 1)
    failures = []
    for method, path, body, accepted in EXERCISE:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if api_key:
                headers["X-API-Key"] = api_key
            connection.request(method, path, json.dumps(body), headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            if response.status not in accepted:
                failures.append(f"exercise {method} {path} answered {response.status}: {text[:300]}")
            else:
                log(f"  exercise {method} {path}: {response.status}")
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"exercise {method} {path}: {type(error).__name__} {error}")
        finally:
            connection.close()
    return failures


def sample_values(answer):
    """Every sample value of an instant query's answer, as floats."""
    result = answer["data"]["result"]
    if answer["data"].get("resultType") == "scalar":
        return [float(result[1])]
    return [float(series["value"][1]) for series in result]


def drive_load_with_loadgen(loadgen, gateway, seconds):
    """One `loadgen url` per path, all at once; each must finish cleanly."""
    runs = [subprocess.Popen([loadgen, "url", f"http://{gateway}{path}", "-c", "2", "-t", "1", "-d", str(int(seconds))],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=die_with_parent)
            for path in LOAD_PATHS]
    failures = []
    for path, run in zip(LOAD_PATHS, runs):
        try:
            output, _ = run.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            run.kill()
            output, _ = run.communicate()
        log(f"  {path}: {output.splitlines()[0] if output else '(no output)'}")
        if run.returncode != 0:
            failures.append(f"loadgen on {path} exited {run.returncode}: {output.strip()[-500:]}")
    return failures


def substitute_variables(expr):
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in VARIABLES:
            raise ValueError(f"unknown dashboard variable ${name}")
        return VARIABLES[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_queries():
    """(dashboard uid, panel title, expr) for every panel query and query variable."""
    for path in sorted(glob.glob(os.path.join(REPO, "monitoring", "grafana", "dashboards", "*.json"))):
        board = json.load(open(path))
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
                # Grafana's label_values(metric, label) is not PromQL; this is what it asks.
                match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
                expr = f"group by ({match.group(2)}) ({match.group(1)})" if match else query
                yield board["uid"], f"variable ${variable['name']}", expr
        for p in board.get("panels", []):
            for t in p.get("targets", []):
                yield board["uid"], p["title"], t["expr"]


def rule_queries():
    for path in sorted(glob.glob(os.path.join(REPO, "monitoring", "prometheus", "rules", "*.yml"))):
        for group in yaml.safe_load(open(path))["groups"]:
            for rule in group["rules"]:
                yield os.path.basename(path), rule.get("record") or rule.get("alert"), rule["expr"]


def read_pending():
    """{(dashboard uid, panel title): reason} from pending_panels.txt."""
    pending = {}
    for line in open(os.path.join(HERE, "pending_panels.txt")):
        line = line.strip()
        if line and not line.startswith("#"):
            uid, title, reason = [field.strip() for field in line.split("|")]
            pending[(uid, title)] = reason
    return pending


def evaluate(prometheus):
    failures = []
    pending = read_pending()
    seen_pending = set()
    panels_with_data = {}
    for uid, title, expr in dashboard_queries():
        where = f"{uid} / {title}"
        try:
            query = substitute_variables(expr)
        except ValueError as error:
            failures.append(f"{where}: {error}")
            continue
        answer = prometheus.api("query", query=query)
        if answer.get("status") != "success":
            failures.append(f"{where}: does not evaluate: {answer.get('error')}\n    {query}")
            continue
        has_data = bool(answer["data"]["result"])
        panels_with_data[(uid, title)] = panels_with_data.get((uid, title), True) and has_data
        need = NEEDS_VALUES.get((uid, title))
        if need and has_data:
            values = sample_values(answer)
            finite = [v for v in values if math.isfinite(v)]
            if not finite or (need == "positive" and not any(v > 0 for v in finite)):
                failures.append(f"{where}: no {need} sample (got {values[:6]})\n    {query}")
    for key, has_data in sorted(panels_with_data.items()):
        where = " / ".join(key)
        if key in pending:
            seen_pending.add(key)
            if has_data:
                log(f"note: {where} now returns data: take it off pending_panels.txt")
            else:
                log(f"pending: {where} ({pending[key]})")
        elif has_data:
            log(f"ok: {where}")
        else:
            failures.append(f"{where}: returns no data")
    for key in sorted(set(NEEDS_VALUES) - set(panels_with_data)):
        failures.append(f"NEEDS_VALUES names {' / '.join(key)}, which no dashboard has")
    for key in sorted(set(pending) - seen_pending):
        failures.append(f"pending_panels.txt names {' / '.join(key)}, which no dashboard has")

    for file, name, expr in rule_queries():
        answer = prometheus.api("query", query=expr)
        if answer.get("status") != "success":
            failures.append(f"{file} {name}: does not evaluate: {answer.get('error')}")
        else:
            log(f"ok: rule {name} evaluates ({len(answer['data']['result'])} series)")
    for group in prometheus.api("rules")["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                failures.append(f"rule {rule['name']} is unhealthy in Prometheus: {rule.get('lastError')}")
    return failures


def isolate():
    """Re-runs this test in a network namespace of its own, when it can (root and
    unshare), so the suite's fixed ports never meet a suite a developer or another
    test already runs on this machine. Returns the exit code, or None to go on here."""
    if os.environ.get("SUITE_LIVE_ISOLATED") or os.geteuid() != 0 or not shutil.which("unshare") \
            or not shutil.which("ip"):
        return None
    env = dict(os.environ, SUITE_LIVE_ISOLATED="1")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        log("note: cannot make a network namespace; running on the host's loopback")
        return None
    log("running in a network namespace of its own (loopback only)")
    return subprocess.run(["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                           sys.executable, *sys.argv], env=env, preexec_fn=die_with_parent).returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--up", default=os.path.join(REPO, "scripts", "up"), help="starts the suite")
    parser.add_argument("--down", default=os.path.join(REPO, "scripts", "down"), help="stops the suite")
    parser.add_argument("--gateway", default="127.0.0.1:8080")
    parser.add_argument("--load-seconds", type=float, default=20)
    parser.add_argument("--max-requests", type=int, default=200000)
    args = parser.parse_args()

    if not shutil.which("prometheus"):
        log("SKIP: prometheus is not installed (apt-get install prometheus)")
        return 77
    if not os.access(args.up, os.X_OK):
        log(f"SKIP: {args.up} is not in this tree (it comes with the foundation issue)")
        return 77
    # The default suite (scripts/up) is isolated; a suite of the caller's (--up) may
    # have to be reached on the host's network.
    if args.up == parser.get_default("up"):
        exit_code = isolate()
        if exit_code is not None:
            return exit_code
    # ctest's timeout sends SIGTERM; turn it into an exception so `finally` cleans up.
    def terminate(*_):
        stopping.set()
        sys.exit("terminated")
    signal.signal(signal.SIGTERM, terminate)

    try:
        http_get(f"http://{args.gateway}/healthz", timeout=2)
        log(f"FAIL: something already answers on {args.gateway}; stop that suite (scripts/down) first")
        return 1
    except (OSError, http.client.HTTPException):
        pass  # the port is free: the suite this test starts is the one it measures

    workdir = tempfile.mkdtemp(prefix="suite-live-")
    # The suite's state (pid files, logs, its PostgreSQL cluster) lives in the workdir,
    # apart from a developer's var/; the postgres user must be able to reach it.
    os.chmod(workdir, 0o755)
    suite_env = dict(os.environ, SUITE_VAR=os.path.join(workdir, "var"))
    prometheus = None
    suite_started = False
    failures = ["did not finish"]
    try:
        log(f"starting the suite: {args.up}")
        suite_started = True  # a half-started suite needs stopping too
        subprocess.run([args.up], cwd=REPO, env=suite_env, check=True, timeout=120)
        wait_for("gateway /healthz", lambda: http_get(f"http://{args.gateway}/healthz")[0] == 200, 30)

        prometheus = Prometheus(workdir, "1s")
        log(f"prometheus on {prometheus.url}, log {prometheus.log_path}")
        wait_for("prometheus ready", lambda: http_get(prometheus.url + "/-/ready")[0] == 200, 30)

        def all_targets_up():
            targets = prometheus.api("targets")["data"]["activeTargets"]
            up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
            return up == prometheus.jobs
        wait_for("every target scraped", all_targets_up, 30)

        log("exercise: the requests that give service-internal panels their samples")
        key_path = os.path.join(suite_env["SUITE_VAR"], "dev-api-key")
        api_key = open(key_path).read().strip() if os.path.exists(key_path) else ""
        load_failures = exercise(args.gateway, api_key)
        # loadgen when this tree has it (issue 3), else a plain keep-alive loop.
        loadgen = os.path.join(os.environ.get("SUITE_BUILD", os.path.join(REPO, "build")), "bin", "loadgen")
        if os.access(loadgen, os.X_OK):
            log(f"load: loadgen url, {args.load_seconds}s on {args.gateway} {LOAD_PATHS}")
            load_failures += drive_load_with_loadgen(loadgen, args.gateway, args.load_seconds)
        else:
            log(f"load: keep-alive GET loop (no {loadgen}), {args.load_seconds}s on {args.gateway} {LOAD_PATHS}")
            for key, count in sorted(drive_load(args.gateway, args.load_seconds, args.max_requests).items()):
                log(f"  {key}: {count}")

        # The recording rules run every second; wait for one that covers the load.
        wait_for("recording rules over the load",
                 lambda: prometheus.api("query", query="service:suite_requests:rate5m > 0")["data"]["result"], 20)
        failures = load_failures + evaluate(prometheus)
    finally:
        if prometheus:
            prometheus.stop()
        if suite_started:
            subprocess.run([args.down], cwd=REPO, env=suite_env, timeout=60)
        if failures:
            log(f"kept for inspection: {workdir} (suite logs in var/log, prometheus.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    for failure in failures:
        log("FAIL:", failure)
    log(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
