"""A stand-in for a metrics exporter: serves the metrics a scrape job lists (each as one sample
with the value 1, in Prometheus's text format) at the job's path.

Usage: exporter.py HOST PORT PATH [METRIC ...]
"""
import http.server
import socketserver
import sys

HOST, PORT, PATH, METRICS = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
BODY = "".join(f"{m} 1\n" for m in METRICS).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.split("?")[0] != PATH:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server((HOST, PORT), Handler).serve_forever()
