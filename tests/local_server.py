"""A local HTTP server on 127.0.0.1 for the download tests (test_download.py, test_data.py):
it serves bytes the tests generate and can fail, stall or cut off answers on request."""

import hashlib
import http.server
import threading

from nnlib.download import RemoteFile


class Server:
    """Serves ``files`` ({path: bytes}) on 127.0.0.1; ``fail[path] = k`` answers the next k requests
    for ``path`` with HTTP 500; ``stall[path]`` delays the next answer by 0.5 s; ``cut[path]`` sends
    only half of the next body and closes the connection."""

    def __init__(self):
        self.files, self.fail, self.stall, self.cut, self.requests = {}, {}, {}, {}, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                if owner.stall.pop(self.path, 0):
                    threading.Event().wait(0.5)
                if owner.fail.get(self.path, 0) > 0:
                    owner.fail[self.path] -= 1
                    self.send_error(500, "try again")
                    return
                if self.path not in owner.files:
                    self.send_error(404)
                    return
                body = owner.files[self.path]
                self.send_response(200)
                if owner.cut.pop(self.path, False):  # promise more than is sent, then hang up
                    self.send_header("Content-Length", str(len(body) + 100))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def remote_for(server, name, payload, mirrors=("/a/",)):
    """Serve ``payload`` as ``name`` under each mirror path; the matching :class:`RemoteFile`."""
    for m in mirrors:
        server.files[m + name] = payload
    return RemoteFile(name, hashlib.sha256(payload).hexdigest(), len(payload),
                      tuple(server.url + m + name for m in mirrors))
