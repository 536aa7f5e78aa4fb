"""Free TCP ports for the Python test drivers (the C++ twin is test::free_port)."""
import socket

_handed_out = set()


def free_port():
    """A port on 127.0.0.1 free a moment ago that this process has not handed out before:
    the kernel may give the same ephemeral port to two bind(0) calls in a row."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
