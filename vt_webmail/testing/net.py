"""Network misbehaviour no real mail server offers on demand, made from real sockets.

* :func:`closed_port`: a loopback port nothing listens on (connection refused);
* :class:`SilentServer`: a port that accepts connections and never says a word (timeouts).
"""

import socket
import threading

from .imap_server import free_port


def closed_port(host="127.0.0.1"):
    """A port on ``host`` with no listener: connecting is refused at once."""
    return free_port(host)


class SilentServer:
    """Accept TCP connections on loopback and never send a byte; a context manager."""

    host = "127.0.0.1"

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((self.host, 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._accepted = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self._accepted.append(conn)

    def accepted_count(self):
        """How many connections were accepted so far (a short wait lets the last one land)."""
        self._thread.join(0.2)
        return len(self._accepted)

    def close(self):
        self._sock.close()
        for conn in self._accepted:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
