# moto's server (`moto_server`, moto.server.main) with two changes, run by
# geocube_testkit::moto as `python -c <this file> -H 127.0.0.1 -p PORT`:
#
# 1. One request at a time inside moto. moto 5.2.5 checks `If-Match` and
#    `If-None-Match: *` and then stores the object without a lock, and the
#    server runs a thread per connection: two concurrent conditional PUTs of
#    one key can both succeed (seen: 2 winners of 8 racing creators). A lock
#    around the application makes check-and-write atomic, as on S3. Request
#    bodies are read before the lock is taken, connections and sockets stay
#    concurrent (werkzeug's threads), and moto holds the GIL while it works
#    anyway, so little throughput is lost.
# 2. With env GEOCUBE_MOTO_EXIT_ON_EOF=1 (geocube_testkit::moto sets it), the
#    server exits when its stdin reaches end of file: the test process holds
#    the other end, so a test killed with SIGKILL leaves no server.
#
# Also runs as a script, e.g. for a benchmark against a server of its own:
#   target/pyenv/bin/python crates/geocube-testkit/src/moto_server.py -H 127.0.0.1 -p 5555
import io
import os
import sys
import threading

import moto.server


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        length = environ.get("CONTENT_LENGTH")
        if length and length.isdigit():
            body = environ["wsgi.input"].read(int(length))
            environ["wsgi.input"] = io.BytesIO(body)
        with lock:
            result = app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return handle


def watch_stdin():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)


_run_simple = moto.server.run_simple


def run_simple(host, port, app, **kwargs):
    _run_simple(host, port, serialized(app), **kwargs)


moto.server.run_simple = run_simple
if os.environ.get("GEOCUBE_MOTO_EXIT_ON_EOF") == "1":
    threading.Thread(target=watch_stdin, daemon=True).start()
moto.server.main(sys.argv[1:])
