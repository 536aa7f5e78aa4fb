#!/usr/bin/env python3
"""Static checks of the Grafana dashboards and provisioning (no Grafana needed).

- the committed JSON is what monitoring/grafana/generate_dashboards.py generates;
- dashboard uids are unique (and name their file), panel ids unique per dashboard;
- every panel, query and query variable names the provisioned Prometheus datasource;
- every panel has a query and a unit, latency panels a time unit, memory panels a
  byte unit;
- the provisioning points at the folder compose mounts the dashboards into.
"""
import glob
import json
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed")
    sys.exit(77)

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
GRAFANA = os.path.join(REPO, "monitoring", "grafana")
TIME_UNITS = {"s", "ms", "µs", "ns", "dtdurations", "dtdurationms"}
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range"}
BYTE_UNITS = {"bytes", "decbytes", "kbytes", "mbytes", "gbytes", "deckbytes", "decmbytes", "decgbytes"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def provisioned_datasource_uids():
    uids = set()
    for path in glob.glob(os.path.join(GRAFANA, "provisioning", "datasources", "*.yml")):
        for source in yaml.safe_load(open(path)).get("datasources", []):
            if source.get("type") == "prometheus":
                uids.add(source["uid"])
    return uids


def check_datasource(where, ref, uids):
    if not isinstance(ref, dict) or ref.get("type") != "prometheus" or ref.get("uid") not in uids:
        fail(f"{where}: datasource {ref!r} is not the provisioned Prometheus {sorted(uids)}")


def check_panel(where, p, uids, variables):
    check_datasource(where, p.get("datasource"), uids)
    targets = p.get("targets") or []
    if not targets or not all(t.get("expr", "").strip() for t in targets):
        fail(f"{where}: a panel needs at least one query, each with an expr")
    for t in targets:
        if "datasource" in t:
            check_datasource(f"{where} query {t.get('refId')}", t["datasource"], uids)
    for t in targets:
        for name in re.findall(r"\$\{?(\w+)", t.get("expr", "")):
            if name not in variables | GRAFANA_VARIABLES:
                fail(f"{where}: query uses ${name}, which the dashboard does not define")
    for name in re.findall(r"\$\{?(\w+)", p.get("repeat", "") and "$" + p["repeat"]):
        if name not in variables:
            fail(f"{where}: repeats over ${name}, which the dashboard does not define")
    unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if not unit:
        fail(f"{where}: no unit")
        return
    exprs = " ".join(t.get("expr", "") for t in targets)
    # Latency: a quantile of a *_seconds histogram, or a duration/startup gauge.
    if re.search(r"duration_seconds|wait_seconds|startup_seconds", exprs) and unit not in TIME_UNITS:
        fail(f"{where}: latency panel has unit {unit!r}, want one of {sorted(TIME_UNITS)}")
    if re.search(r"memory_bytes|_bytes\b", exprs) and unit not in BYTE_UNITS:
        fail(f"{where}: memory panel has unit {unit!r}, want one of {sorted(BYTE_UNITS)}")


def check_dashboards():
    uids = provisioned_datasource_uids()
    if not uids:
        fail("no Prometheus datasource is provisioned")
    seen = {}
    paths = sorted(glob.glob(os.path.join(GRAFANA, "dashboards", "*.json")))
    if not paths:
        fail("no dashboards")
    for path in paths:
        name = os.path.basename(path)
        try:
            board = json.load(open(path))
        except ValueError as error:
            fail(f"{name}: not JSON: {error}")
            continue
        uid = board.get("uid")
        if not uid or uid in seen:
            fail(f"{name}: uid {uid!r} missing or also used by {seen.get(uid)}")
        seen[uid] = name
        if name != f"{uid}.json":
            fail(f"{name}: file is not named after its uid {uid!r}")
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                check_datasource(f"{name} variable {variable.get('name')}", variable.get("datasource"), uids)
        variables = {v.get("name") for v in board.get("templating", {}).get("list", [])}
        ids = [p.get("id") for p in board.get("panels", [])]
        if len(ids) != len(set(ids)) or None in ids:
            fail(f"{name}: panel ids are missing or repeated")
        panels = [p for p in board.get("panels", []) if p.get("type") != "row"]
        for p in panels:
            check_panel(f"{name} panel {p.get('title')!r}", p, uids, variables)
        print(f"ok: {name}: {len(panels)} panels")


def check_provisioning():
    compose = yaml.safe_load(open(os.path.join(REPO, "compose", "docker-compose.yml")))
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    dashboards_target = next(v.split(":")[1] for v in grafana_mounts if "grafana/dashboards" in v)
    for path in glob.glob(os.path.join(GRAFANA, "provisioning", "dashboards", "*.yml")):
        for provider in yaml.safe_load(open(path)).get("providers", []):
            if provider.get("options", {}).get("path") != dashboards_target:
                fail(f"{os.path.basename(path)}: provider path is not {dashboards_target}, where compose mounts the dashboards")
    prometheus_port = compose["services"]["prometheus"]["ports"][0].split(":")[-1]
    for path in glob.glob(os.path.join(GRAFANA, "provisioning", "datasources", "*.yml")):
        for source in yaml.safe_load(open(path)).get("datasources", []):
            if source.get("url") != f"http://prometheus:{prometheus_port}":
                fail(f"{os.path.basename(path)}: datasource url {source.get('url')} is not the compose Prometheus")
    print("ok: provisioning matches compose")


generated = subprocess.run([sys.executable, os.path.join(GRAFANA, "generate_dashboards.py"), "--check"],
                           capture_output=True, text=True)
if generated.returncode != 0:
    fail(generated.stdout.strip() or generated.stderr.strip())
check_dashboards()
check_provisioning()
print(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
