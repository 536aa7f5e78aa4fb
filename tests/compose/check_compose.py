#!/usr/bin/env python3
"""Proves what can be proven about compose/ without a Docker engine.

Checks that docker-compose accepts the file, that every file it mounts (and every
container path its commands and environment point into a mount) exists in the
repository, that images are pinned, that every service has limits, that every
`service_healthy` dependency has a healthcheck, that every SUITE_* variable and
--flag given to a built binary is one of its configuration keys, and that the
Dockerfile has the shape the issue asks for. Arguments: [repository] [directory of
the built binaries]. Exits 77 (ctest SKIP_RETURN_CODE) only when a tool is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed")
    sys.exit(77)

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "build", "bin"))
COMPOSE_DIR = os.path.join(REPO, "compose")
COMPOSE_FILE = os.path.join(COMPOSE_DIR, "docker-compose.yml")
ENV_EXAMPLE = os.path.join(COMPOSE_DIR, ".env.example")
OPTIONAL_PROFILES = {"ollama": "llm", "loadgen": "load"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL:", message)


def compose(*args, env_file):
    # A clean environment, so a developer's exported variables can't hide a missing one.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(["docker-compose", "--env-file", env_file, "-f", COMPOSE_FILE, *args],
                          capture_output=True, text=True, env=env, timeout=60)


def bind_mounts(service):
    """(host path, container path) of each bind mount; named volumes are skipped."""
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume.get("target", "")
        else:
            source, target = (volume.split(":") + [""])[:2]
        if source.startswith("/"):
            yield source, target


def container_paths(service):
    """Absolute paths that the service's command and environment mention."""
    words = []
    command = service.get("command", [])
    words += command if isinstance(command, list) else command.split()
    words += [str(v) for v in (service.get("environment") or {}).values()]
    for word in words:
        for path in re.findall(r"(/[\w./-]+)", word.split("=", 1)[-1]):
            yield path


def check_compose_file():
    result = compose("config", "-q", env_file=ENV_EXAMPLE)
    if result.returncode != 0:
        fail("docker-compose config -q rejects the file: " + result.stderr.strip())
        return
    print("ok: docker-compose config -q with .env.example")

    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty_env:
        refused = compose("config", "-q", env_file=empty_env.name)
    if refused.returncode == 0 or ".env" not in refused.stderr:
        fail("without an .env the config must be refused, naming compose/.env")
    else:
        print("ok: without an .env the passwords are demanded")

    config = yaml.safe_load(compose("config", env_file=ENV_EXAMPLE).stdout)
    services = config["services"]
    for name, service in sorted(services.items()):
        mounts = list(bind_mounts(service))
        for host, _ in mounts:
            if not os.path.exists(host):
                fail(f"{name}: mounted path {host} does not exist")
            elif not os.path.realpath(host).startswith(REPO + os.sep):
                fail(f"{name}: mounted path {host} is outside the repository")
        for path in container_paths(service):
            for host, target in mounts:
                if path == target or path.startswith(target.rstrip("/") + "/"):
                    host_path = host + path[len(target):]
                    if not os.path.exists(host_path):
                        fail(f"{name}: {path} maps to {host_path}, which does not exist")

        image = service.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        if not tag or tag == "latest" or "$" in tag:
            fail(f"{name}: image {image!r} is not pinned to a version")

        for limit in ("mem_limit", "cpus"):
            if limit not in service:
                fail(f"{name}: no {limit}")

        for dependency, condition in (service.get("depends_on") or {}).items():
            if condition.get("condition") == "service_healthy" and "healthcheck" not in services[dependency]:
                fail(f"{name} waits for {dependency} to be healthy, but it has no healthcheck")
        # One-shot jobs (restart: "no", such as loadgen) need no health state.
        if "healthcheck" not in service and service.get("restart") != "no":
            fail(f"{name}: no healthcheck")

        expected = [OPTIONAL_PROFILES[name]] if name in OPTIONAL_PROFILES else None
        if service.get("profiles") != expected:
            fail(f"{name}: profiles {service.get('profiles')} (expected {expected})")
    print(f"ok: checked {len(services)} services")
    check_configuration_keys(services)


def check_configuration_keys(services):
    """Every SUITE_* variable and --flag compose gives a binary must be a key it knows
    (its --help lists each key with its variable): an unknown variable is silently
    ignored, an unknown flag stops the service at start."""
    for name, service in sorted(services.items()):
        command = service.get("command") or []
        if not service.get("image", "").startswith("suite:") or not command:
            continue
        binary = os.path.join(BIN_DIR, command[0])
        if not os.access(binary, os.X_OK):
            print(f"note: {command[0]} is not built; {name}'s configuration keys not checked")
            continue
        usage = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
        known = set(re.findall(r"\((SUITE_[A-Z0-9_]+),", usage)) | set(re.findall(r"(--[a-z0-9-]+) \(SUITE_", usage))
        given = [k for k in (service.get("environment") or {}) if k.startswith("SUITE_")]
        given += [arg.split("=", 1)[0] for arg in command[1:] if arg.startswith("--")]
        unknown = sorted(k for k in given if k not in known)
        if unknown:
            fail(f"{name}: {command[0]} has no configuration key for {', '.join(unknown)}")
        else:
            print(f"ok: {name}: every SUITE_* variable and flag is a key of {command[0]}")


def check_dockerfile():
    path = os.path.join(COMPOSE_DIR, "Dockerfile")
    lines = open(path).read().replace("\\\n", " ").splitlines()
    stages = [l.split() for l in lines if l.startswith("FROM ")]
    if not stages or any(s[1] != "debian:bookworm-slim" for s in stages) or len(stages) < 2:
        fail("Dockerfile: expected a multi-stage build on debian:bookworm-slim")
    final = lines[max(i for i, l in enumerate(lines) if l.startswith("FROM ")):]
    users = [l.split()[1] for l in final if l.startswith("USER ")]
    if not users or users[-1] in ("root", "0"):
        fail("Dockerfile: the runtime stage must run as a non-root USER")
    if not any(l.startswith("HEALTHCHECK ") for l in final):
        fail("Dockerfile: the runtime stage has no HEALTHCHECK")
    for line in lines:
        words = line.split()
        if words and words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            for source in words[1:-1]:
                if not os.path.exists(os.path.join(REPO, source)):
                    fail(f"Dockerfile: COPY source {source} does not exist")

    # The build stage must compile against what scripts/setup installs for developers.
    setup = os.path.join(REPO, "scripts", "setup")
    install = next(l for l in lines if "apt-get install" in l and "xargs" not in l)
    package_words = install.split("--no-install-recommends", 1)[1].split("&&", 1)[0].split()
    packages = [w for w in package_words if re.match(r"^[a-z0-9][a-z0-9.+-]+$", w)]
    if os.path.exists(setup):
        setup_text = open(setup).read()
        missing = [p for p in packages if not re.search(r"(?<![\w.+-])" + re.escape(p) + r"(?![\w.+-])", setup_text)]
        if missing:
            fail("Dockerfile build packages missing from scripts/setup: " + " ".join(missing))
        else:
            print(f"ok: the {len(packages)} build packages are all in scripts/setup")
    else:
        print("note: scripts/setup not in this tree; build packages not compared")
    print("ok: Dockerfile checked")


if not shutil.which("docker-compose"):
    print("SKIP: docker-compose is not installed")
    sys.exit(77)
check_compose_file()
check_dockerfile()
print(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
