"""Free TCP ports for the Python test drivers (the C++ twin is test::free_port)."""
import random
import socket

_LOW = 20000


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
        return low if low > 21000 else 32768
    except (OSError, ValueError, IndexError):
        return 32768


_HIGH = _ephemeral_low()
_next = random.randrange(_LOW, _HIGH)


def free_port():
    """A port on 127.0.0.1 free a moment ago that this process has not handed out before.
    It is below the kernel's ephemeral range, where no bind(0) or outgoing connection can
    take it; each process walks the range from a random start."""
    global _next
    for _ in range(_HIGH - _LOW):
        port = _next
        _next = _next + 1 if _next + 1 < _HIGH else _LOW
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {_LOW}..{_HIGH - 1}")
