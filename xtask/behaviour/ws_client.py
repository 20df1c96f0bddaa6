"""Opens a WebSocket through the proxy (TLS on 127.0.0.1:443, the domain as SNI and Host, the
certificate not verified: it is a throwaway) and prints the status code of the upgrade and the
first text frame the app sends.

Usage: ws_client.py DOMAIN
"""
import base64
import os
import socket
import ssl
import sys

DOMAIN = sys.argv[1]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
sock = context.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=5), server_hostname=DOMAIN)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall(
    (
        f"GET /websocket HTTP/1.1\r\nHost: {DOMAIN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
)
data = b""
while b"\r\n\r\n" not in data:
    chunk = sock.recv(4096)
    if not chunk:
        break
    data += chunk
head, _, rest = data.partition(b"\r\n\r\n")
status = head.split(b"\r\n")[0].decode(errors="replace").split(" ")
code = status[1] if len(status) > 1 else "none"
while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7F):
    chunk = sock.recv(4096)
    if not chunk:
        break
    rest += chunk
frame = rest[2 : 2 + (rest[1] & 0x7F)].decode(errors="replace") if len(rest) >= 2 else ""
print(code, frame)
