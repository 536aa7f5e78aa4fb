#!/usr/bin/env python3
"""Runs compose/Dockerfile's runtime stage in a bookworm chroot, as far as a host
without a Docker engine can.

It follows the Dockerfile's own instructions rather than a copy of them: FROM becomes a
debootstrap'ed bookworm (minbase, close to bookworm-slim), COPY --from=build takes the
binaries of this build (and the package list runtime-packages.sh derives from them),
RUN, ENV, WORKDIR and USER are applied in the chroot. Then every binary must start
as that non-root user and the image's HEALTHCHECK command must pass against the suite
running there. The build stage's package list is resolved with `apt-get install
--simulate` in the same chroot, which proves every name exists in bookworm.

Needs root, debootstrap and the Debian mirror apt uses; exits 77 when root or
debootstrap is missing. The services run in a network namespace of their own. Takes about two minutes, most of it debootstrap.
"""
import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

REPO = os.path.abspath(sys.argv[1])
BIN_DIR = os.path.abspath(sys.argv[2])
SERVICES = ["clinic-records", "chat-cache", "event-ingest", "rem-store", "gateway"]


def log(*args):
    print(*args, flush=True)


def die_with_parent():
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stages(dockerfile):
    """[(stage name, [(instruction, argument text)])], continuation lines joined."""
    text = re.sub(r"\\\n", " ", open(dockerfile).read())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        if instruction == "FROM":
            result.append((argument.split()[-1], []))
        else:
            result[-1][1].append((instruction, argument.strip()))
    return dict(result)


def chroot_run(root, command, env, user=None, workdir="/", **options):
    spec = [f"--userspec={user[1]}:{user[2]}"] if user else []
    shell = f"cd {shlex.quote(workdir)} && {command}"
    return subprocess.run(["chroot", *spec, root, "/bin/sh", "-c", shell], env=env, **options)


def main():
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("debootstrap", "unshare", "ip")):
        log("SKIP: needs root, debootstrap, unshare and ip (apt-get install debootstrap)")
        return 77
    if not os.path.isdir(BIN_DIR) or not os.listdir(BIN_DIR):
        log(f"SKIP: no binaries in {BIN_DIR} (the services are not in this tree yet)")
        return 77
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    dockerfile = stages(os.path.join(REPO, "compose", "Dockerfile"))
    root = tempfile.mkdtemp(prefix="suite-image-")
    os.chmod(root, 0o755)  # mkdtemp's 0700 would lock the non-root USER out of "/"
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    proc_mounted, failures = False, []
    try:
        log("debootstrap bookworm (minbase)")
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root],
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        subprocess.run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")], check=True)
        proc_mounted = True

        install = next(a for i, a in dockerfile["build"] if i == "RUN" and "apt-get install" in a)
        simulated = install.replace("apt-get install", "apt-get install --simulate")
        if chroot_run(root, simulated, env, stdout=subprocess.DEVNULL).returncode != 0:
            failures.append("the build stage's packages do not resolve on bookworm")
        else:
            log("ok: build-stage packages resolve on bookworm")

        user, workdir, health = None, "/", None
        for instruction, argument in dockerfile["runtime"]:
            if instruction == "COPY":
                words = argument.split()
                source, target = words[-2], root + words[-1]
                if source == "/out/runtime-packages.txt":
                    binaries = [os.path.join(BIN_DIR, b) for b in sorted(os.listdir(BIN_DIR))]
                    with open(target, "w") as f:
                        subprocess.run(["sh", os.path.join(REPO, "compose", "runtime-packages.sh"), *binaries],
                                       stdout=f, check=True)
                elif source == "/out/bin/":
                    os.makedirs(target, exist_ok=True)
                    for name in os.listdir(BIN_DIR):
                        shutil.copy2(os.path.join(BIN_DIR, name), target)
                else:
                    failures.append(f"COPY {argument}: not modelled by this test")
            elif instruction == "RUN":
                if chroot_run(root, argument, env, user, workdir, stdout=subprocess.DEVNULL).returncode != 0:
                    failures.append(f"RUN failed: {argument}")
            elif instruction == "ENV":
                key, value = argument.split("=", 1)
                env[key] = value
            elif instruction == "WORKDIR":
                workdir = argument
            elif instruction == "USER":
                # (name, uid, gid) from the chroot's own /etc/passwd.
                entries = (line.split(":") for line in open(os.path.join(root, "etc", "passwd")))
                user = next((e[0], int(e[2]), int(e[3])) for e in entries if argument in (e[0], e[2]))
            elif instruction == "HEALTHCHECK":
                health = argument.split(" CMD ", 1)[1]
        if failures:
            return 1
        # The image's default probe is the gateway's /healthz, which is green only with
        # PostgreSQL and the LLM beside the suite (compose provides both). Here the probe
        # asks the gateway for one backend's health instead: it still proves the runtime
        # stage's gateway, bus and a service run as the image's user.
        env["HEALTH_URL"] = "http://127.0.0.1:8080/api/sys/rem-store/health"
        if not user or user[1] == 0:
            failures.append("the runtime stage runs as root")

        # The services and the probe share one network namespace of their own: on the
        # host's loopback a suite already running there could answer the probe.
        in_chroot = f"chroot --userspec={user[1]}:{user[2]} {shlex.quote(root)} /bin/sh -c"
        lines = ["ip link set lo up", "pids="]
        for service in SERVICES:
            data = f"SUITE_DATA_DIR={workdir}/data/{service} " if service in ("event-ingest", "rem-store") else ""
            lines += [f"{data}{in_chroot} {shlex.quote(f'cd {workdir} && exec {service}')} "
                      f"> {shlex.quote(root)}/tmp/{service}.log 2>&1 &", 'pids="$pids $!"']
        lines += ["tries=0",
                  f"until {in_chroot} {shlex.quote(f'cd {workdir} && {health}')} >/dev/null 2>&1; do",
                  '  tries=$((tries + 1)); [ $tries -gt 60 ] && { kill $pids; exit 1; }; sleep 0.5',
                  "done",
                  "kill $pids; wait; exit 0"]
        probe = subprocess.run(["unshare", "--net", "--", "sh", "-c", "\n".join(lines)], env=env,
                               preexec_fn=die_with_parent, timeout=120)
        if probe.returncode != 0:
            failures.append(f"HEALTHCHECK `{health}` never passed within 30s")
            for service in SERVICES:
                log(f"--- {service}:", open(os.path.join(root, "tmp", f"{service}.log")).read()[-2000:])
        else:
            log(f"ok: every service runs as {user[0]} (uid {user[1]}); HEALTHCHECK `{health}` passes")
    finally:
        if proc_mounted:
            subprocess.run(["umount", os.path.join(root, "proc")])
        # Never delete through a /proc that is still mounted.
        if not os.path.ismount(os.path.join(root, "proc")):
            shutil.rmtree(root, ignore_errors=True)
    for failure in failures:
        log("FAIL:", failure)
    log(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
