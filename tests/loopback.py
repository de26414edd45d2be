"""A local HTTP server for the download tests: nothing they fetch comes from the internet."""

import contextlib
import http.server
import socket
import threading


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that does not log each request to stderr."""

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(handler):
    """Run an HTTP server on a free port of 127.0.0.1, in a thread, for the ``with`` block.

    Args:
        handler: a ``BaseHTTPRequestHandler`` subclass; it may append ``self.path``
            to ``self.server.requests``.

    Yields:
        The server, with ``url(route)`` (its address for ``route``) and
        ``requests`` (a list for the paths asked for).
    """
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    httpd.url = lambda route: f"http://127.0.0.1:{httpd.server_address[1]}/{route}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def refused_url(route):
    """A URL for ``route`` on a port of 127.0.0.1 where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{route}"
