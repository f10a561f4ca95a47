"""A null S3 server: the upload ceiling of a client on this machine.

It answers what a multipart upload needs (CreateMultipartUpload, UploadPart,
CompleteMultipartUpload; any other request gets an empty 200) and throws every body away,
reading it the cheapest way Python can (blocking ``recv_into`` with ``MSG_WAITALL`` into one
buffer per connection, woken every 256 KiB, a thread per connection). Nothing is stored or
checked, so what a client uploads to it is as fast as that client can send here: a server that
keeps the bytes cannot be judged against more than that.

    python -m bench.s3_sink PORT
"""

from __future__ import annotations

import socket
import sys
import threading

WAKE_AFTER = 256 * 1024
_INITIATED = (
    b"<InitiateMultipartUploadResult><Bucket>bench</Bucket><Key>object</Key>"
    b"<UploadId>sink</UploadId></InitiateMultipartUploadResult>"
)
_COMPLETED = (
    b"<CompleteMultipartUploadResult><Bucket>bench</Bucket><Key>object</Key>"
    b'<ETag>"sink-1"</ETag></CompleteMultipartUploadResult>'
)


def _answer(method: bytes, target: bytes) -> bytes:
    if method == b"POST":
        return _INITIATED if b"uploads" in target else _COMPLETED
    return b""


def _drain(conn: socket.socket, buffer: memoryview, length: int) -> bool:
    """Read and drop ``length`` body bytes; False if the client went away."""
    while length:
        want = min(len(buffer), length)
        wake_after = WAKE_AFTER if length - want >= WAKE_AFTER else 1  # a short tail must wake it
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, wake_after)
        count = conn.recv_into(buffer[:want], 0, socket.MSG_WAITALL)
        if not count:
            return False
        length -= count
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
    return True


def serve_connection(conn: socket.socket) -> None:
    buffer = memoryview(bytearray(4 * 1024 * 1024))
    pending = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                pending += chunk
            head, pending = pending.split(b"\r\n\r\n", 1)
            request_line, *headers = head.split(b"\r\n")
            method, target, _ = request_line.split(b" ", 2)
            length = 0
            for header in headers:
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            early = min(length, len(pending))
            pending = pending[early:]
            if not _drain(conn, buffer, length - early):
                return
            body = _answer(method, target)
            head = b'HTTP/1.1 200 OK\r\nETag: "sink"\r\nContent-Length: %d\r\n\r\n' % len(body)
            conn.sendall(head + body)


def main(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=128)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
