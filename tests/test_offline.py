"""The suite never touches the network: the conftest guard refuses it."""

from __future__ import annotations

import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from conftest import NetworkBlocked


def test_a_name_lookup_outside_this_machine_is_refused():
    with pytest.raises(NetworkBlocked, match="must not"):
        socket.getaddrinfo("huggingface.co", 443)


def test_a_connection_outside_this_machine_is_refused():
    with socket.socket() as sock, pytest.raises(NetworkBlocked):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed


def test_a_local_server_still_works():
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"hello"
    thread.join(5)
    server.server_close()
