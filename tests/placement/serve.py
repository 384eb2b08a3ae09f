"""Serve the real OpenStack Placement WSGI app single-threaded (wsgiref) on 127.0.0.1.

Single-threaded on purpose: SQLite under a multi-worker server answers "database is locked".
Usage: serve.py PORTFILE   (binds port 0, writes the chosen port to PORTFILE once serving)
"""
import logging
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    portfile = sys.argv[1]
    logging.basicConfig(level=logging.WARNING)
    from placement.wsgi import api  # builds the app from $OS_PLACEMENT_CONFIG_DIR

    httpd = make_server("127.0.0.1", 0, api.application, handler_class=QuietHandler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(httpd.server_port))
    import os
    os.rename(portfile + ".tmp", portfile)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
