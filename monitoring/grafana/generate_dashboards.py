#!/usr/bin/env python3
"""Writes the suite's Grafana dashboards (dashboards/*.json) from this one description.

Dashboards are generated rather than hand-edited so that every panel gets the same
datasource, a unit and a sane layout, and so that the six dashboards stay consistent
as services gain metrics. Edit this file, run it, commit both:
    python3 monitoring/grafana/generate_dashboards.py
`--check` exits 1 if the committed JSON differs from what this file generates (ctest).

Queries use the recording rules of monitoring/prometheus/rules/recording.yml where one
exists, so a panel and the alert about it show the same number. process_* metrics are
selected by `job`, which prometheus.yml names after the service.
"""
import json
import os
import sys

DATASOURCE = {"type": "prometheus", "uid": "suite-prometheus"}
SERVICES = ["gateway", "clinic-records", "chat-cache", "event-ingest", "rem-store"]
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
RATE = "$__rate_interval"


def target(expr, legend="", instant=False, table=False):
    t = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
    if instant:
        t["instant"], t["range"] = True, False
    if table:
        t["format"] = "table"
    return t


def panel(title, unit, *targets, kind="timeseries", width=12, height=8, description="", **extra):
    """One panel; `unit` is a Grafana unit id (s, bytes, reqps, percentunit, short)."""
    p = {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "gridPos": {"w": width, "h": height},
    }
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    if description:
        p["description"] = description
    p.update(extra)
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"w": 24, "h": 1}}


def dashboard(uid, title, description, panels, variables=()):
    """Lays the panels out left to right, wrapping at Grafana's 24 columns."""
    x = y = line_height = 0
    for number, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y, line_height = 0, y + line_height, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        p["id"] = number
        x, line_height = x + w, max(line_height, h)
        if p["type"] == "row":
            x, y, line_height = 0, y + h, 0
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["suite"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["suite"], "asDropdown": True, "title": "Suite"}],
        "templating": {"list": list(variables)},
        "panels": panels,
    }


def latency_panels(selector, by, legend):
    """p50, p95 and p99 from the recording rules, one panel each."""
    return [panel(f"p{q} latency by {by}", "s",
                  target(f"service_op:suite_request_duration_seconds:p{q}_5m{selector}", legend),
                  width=8)
            for q in (50, 95, 99)]


def overview():
    return dashboard("suite-overview", "Suite overview",
                     "Is the suite healthy right now, and which service is the slow or failing one?", [
        panel("Requests/s", "reqps", target("sum(service:suite_requests:rate5m)"), kind="stat", width=6, height=4),
        panel("Error ratio (5xx)", "percentunit",
              target("sum(service:suite_request_errors:rate5m) / sum(service:suite_requests:rate5m)"),
              kind="stat", width=6, height=4),
        panel("Worst p99", "s", target("max(service:suite_request_duration_seconds:p99_5m)"),
              kind="stat", width=6, height=4),
        panel("Processes up", "short", target("sum(up)", instant=True), kind="stat", width=6, height=4,
              description="Scrape targets answering; the suite has five."),
        row("Traffic"),
        panel("Requests/s by service", "reqps", target("service:suite_requests:rate5m", "{{service}}")),
        panel("Error ratio (5xx) by service", "percentunit",
              target("service:suite_request_error_ratio:rate5m", "{{service}}")),
        row("Latency by service and op"),
        *latency_panels("", "service and op", "{{service}} {{op}}"),
        row("Resources"),
        panel("Resident memory by service", "bytes", target("service:process_resident_memory_bytes:sum", "{{service}}")),
        panel("CPU by service (1 = one core)", "percentunit", target("service:process_cpu_seconds:rate5m", "{{service}}")),
        panel("In-flight requests by service", "short", target("sum by (service) (suite_inflight_requests)", "{{service}}")),
        panel("Bus queue depth by service", "short", target("sum by (service) (suite_bus_queue_depth)", "{{service}}")),
    ])


# Panels on metrics each service's own issue adds. Their names follow design.md's
# `suite_<service>_...` rule; until a service exports them these panels show no data,
# and tests/monitoring/pending_panels.txt lists them as not yet proven.
def specific_panels(service):
    s = service.replace("-", "_")
    # The two RocksDB services report their memory the same way: one gauge, by part.
    rocksdb_memory = panel("RocksDB memory", "bytes",
                           target(f"sum by (part) (suite_{s}_rocksdb_bytes)", "{{part}}"), width=8)
    if service == "gateway":
        return [
            panel("Open SSE streams", "short", target("sum(suite_gateway_sse_clients)", "SSE clients")),
            panel("Open HTTP connections", "short", target("sum(suite_gateway_http_connections)", "connections")),
        ]
    if service == "clinic-records":
        return [
            panel("PostgreSQL pool in use", "short",
                  target(f"sum(suite_{s}_pg_pool_in_use)", "in use"), target(f"sum(suite_{s}_pg_pool_size)", "size")),
            panel("PostgreSQL pool wait p99", "s",
                  target(f"histogram_quantile(0.99, sum by (le) (rate(suite_{s}_pg_pool_wait_seconds_bucket[{RATE}])))", "p99 wait")),
        ]
    if service == "chat-cache":
        hits, misses = f"sum(rate(suite_{s}_hits_total[{RATE}]))", f"sum(rate(suite_{s}_misses_total[{RATE}]))"
        return [
            panel("Cache hit ratio", "percentunit", target(f"{hits} / ({hits} + {misses})", "hit ratio"), width=8),
            panel("Evictions/s", "ops", target(f"sum(rate(suite_{s}_evictions_total[{RATE}]))", "evictions"), width=8),
            panel("Cache size", "bytes", target(f"sum(suite_{s}_bytes)", "bytes"), width=8),
        ]
    if service == "event-ingest":
        return [
            # event-ingest counts every event once, by outcome (stored, duplicate, rejected).
            panel("Events ingested and deduplicated /s", "ops",
                  target(f"sum by (result) (rate(suite_{s}_events_total[{RATE}]))", "{{result}}"), width=8),
            panel("Live SSE clients (gateway)", "short", target("sum(suite_gateway_sse_clients)", "SSE clients"), width=8),
            rocksdb_memory,
        ]
    if service == "rem-store":
        return [
            panel("Query p99 by type", "s",
                  target(f"histogram_quantile(0.99, sum by (type, le) (rate(suite_{s}_query_duration_seconds_bucket[{RATE}])))", "{{type}}"), width=8),
            panel("Index sizes", "short", target(f"sum by (index) (suite_{s}_index_entries)", "{{index}}"),
                  target(f"sum(suite_{s}_hnsw_elements)", "HNSW vectors"), width=8),
            rocksdb_memory,
        ]
    raise ValueError(service)


def service_dashboard(service):
    sel, job = f'{{service="{service}"}}', f'{{job="{service}"}}'
    return dashboard(f"suite-{service}", f"Suite / {service}",
                     f"How busy, fast and big is {service}, op by op and instance by instance?", [
        row("Traffic"),
        panel("Requests/s by op and status", "reqps",
              target(f"sum by (op, status) (rate(suite_requests_total{sel}[{RATE}]))", "{{op}} {{status}}")),
        panel("Error ratio (5xx) by op", "percentunit",
              target(f"service_op:suite_request_errors:rate5m{sel} / service_op:suite_requests:rate5m{sel}", "{{op}}")),
        row("Latency"),
        *latency_panels(sel, "op", "{{op}}"),
        panel("In-flight requests", "short", target(f"sum by (instance) (suite_inflight_requests{sel})", "{{instance}}")),
        panel("Bus queue depth", "short", target(f"sum by (instance) (suite_bus_queue_depth{sel})", "{{instance}}")),
        row("Process"),
        panel("Resident and virtual memory", "bytes",
              target(f"process_resident_memory_bytes{job}", "RSS {{instance}}"),
              target(f"process_virtual_memory_bytes{job}", "virtual {{instance}}")),
        panel("CPU (1 = one core)", "percentunit", target(f"rate(process_cpu_seconds_total{job}[{RATE}])", "{{instance}}")),
        panel("Open file descriptors", "short", target(f"process_open_fds{job}", "{{instance}}"), width=8),
        panel("Start-up time", "s", target(f"max(suite_startup_seconds{sel})", instant=True), kind="stat", width=8),
        panel("Uptime", "s", target(f"min(time() - process_start_time_seconds{job})", instant=True), kind="stat", width=8),
        row(f"{service} internals"),
        *specific_panels(service),
    ])


def machines():
    """Two (or more) machines side by side: each panel repeats once per cpu_model.

    A process's suite_build_info carries the machine's cpu_model and cores; joining on
    (job, instance) tags every series of that process with them. For two machines to
    appear, one Prometheus must scrape both (distinct `instance` labels).
    """
    machine = {
        "type": "query", "name": "machine", "label": "Machine (CPU model)",
        "datasource": DATASOURCE,
        "definition": "label_values(suite_build_info, cpu_model)",
        "query": {"query": "label_values(suite_build_info, cpu_model)", "refId": "machine"},
        "refresh": 2, "multi": True, "includeAll": True, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }

    def on_machine(expr):
        return f'{expr} * on (job, instance) group_left (cpu_model, cores) suite_build_info{{cpu_model=~"$machine"}}'

    def side_by_side(title, unit, expr, legend):
        return panel(f"{title} on $machine", unit, target(expr, legend),
                     repeat="machine", repeatDirection="h", maxPerRow=2)

    return dashboard("suite-machines", "Suite / machine comparison",
                     "How do the same services compare on different machines (CPU model, cores, build)?", [
        panel("Builds and machines", "short", target("suite_build_info", instant=True, table=True),
              kind="table", width=24, height=6,
              transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "Value": True, "__name__": True}}}]),
        side_by_side("p99 latency by service", "s",
                     f"histogram_quantile(0.99, sum by (service, le) ({on_machine(f'rate(suite_request_duration_seconds_bucket[{RATE}])')}))",
                     "{{service}}"),
        side_by_side("Requests/s by service", "reqps",
                     f"sum by (service) ({on_machine(f'rate(suite_requests_total[{RATE}])')})", "{{service}}"),
        side_by_side("Resident memory by service", "bytes",
                     f"sum by (job) ({on_machine('process_resident_memory_bytes')})", "{{job}}"),
        side_by_side("CPU by service (1 = one core)", "percentunit",
                     f"sum by (job) ({on_machine(f'rate(process_cpu_seconds_total[{RATE}])')})", "{{job}}"),
        side_by_side("Start-up time by service", "s",
                     f"max by (service) ({on_machine('suite_startup_seconds')})", "{{service}}"),
    ], variables=[machine])


def all_dashboards():
    return [overview(), *(service_dashboard(s) for s in SERVICES), machines()]


def main():
    check = "--check" in sys.argv[1:]
    boards = all_dashboards()
    expected = {board["uid"] + ".json" for board in boards}
    stale = [os.path.join(OUT_DIR, name) for name in sorted(os.listdir(OUT_DIR))
             if name.endswith(".json") and name not in expected]
    for board in boards:
        path = os.path.join(OUT_DIR, board["uid"] + ".json")
        text = json.dumps(board, indent=2) + "\n"
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            stale.append(path)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    if check and stale:
        print("out of date or not generated (run monitoring/grafana/generate_dashboards.py):",
              *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
