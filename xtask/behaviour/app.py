"""A stand-in for the app behind the proxy: answers every GET with its name and the path, and
accepts WebSocket upgrades (sending one text frame). Every request is appended to a log file,
so a test can tell which paths reached the app.

Usage: app.py HOST PORT NAME LOG
"""
import base64
import hashlib
import http.server
import socketserver
import sys

HOST, PORT, NAME, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(f"{NAME} {self.path}\n")
        if self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            message = f"hello from {NAME}".encode()
            self.wfile.write(bytes([0x81, len(message)]) + message)
            self.wfile.flush()
            self.close_connection = True
            return
        body = f"{NAME} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server((HOST, PORT), Handler).serve_forever()
