"""A small worker server for the step-sequence example: a JSON API over HTTP (stdlib only).

    GET  /health          200 when ready
    GET  /whoami          {"worker": WORKER_ID, "pid": ..., "greeting": GREETING}
    POST /items           {"name": ...} -> {"id": ..., "name": ...}  (409 if the name exists)
    GET  /items           every item
    GET  /items/ID        one item (404 if none)
    POST /crash           exits at once (to show how trialrun reports a worker that dies)

Configured by its environment, as trialrun sets it: PORT, WORKER_ID, DATABASE_PATH (its
own SQLite file), GREETING (from .env files).
"""

import json
import os
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
WORKER_ID = os.environ.get("WORKER_ID", "worker")
DB = sqlite3.connect(os.environ.get("DATABASE_PATH", ":memory:"), check_same_thread=False)
DB.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
DB.commit()


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {"ok": True})
        if self.path == "/whoami":
            return self._send(
                200,
                {"worker": WORKER_ID, "pid": os.getpid(), "greeting": os.environ.get("GREETING")},
            )
        if self.path == "/items":
            rows = DB.execute("SELECT id, name FROM items ORDER BY id").fetchall()
            return self._send(200, [{"id": i, "name": n} for i, n in rows])
        if self.path.startswith("/items/"):
            row = DB.execute("SELECT id, name FROM items WHERE id = ?", (self.path[7:],)).fetchone()
            return (
                self._send(200, {"id": row[0], "name": row[1]})
                if row
                else self._send(404, {"error": "no such item"})
            )
        self._send(404, {"error": "not found"})

    def do_POST(self):
        if self.path == "/crash":
            print(f"{WORKER_ID}: crashing on request", flush=True)
            os._exit(1)
        if self.path == "/items":
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            try:
                cur = DB.execute("INSERT INTO items (name) VALUES (?)", (body["name"],))
                DB.commit()
            except sqlite3.IntegrityError:
                return self._send(409, {"error": "exists"})
            return self._send(201, {"id": cur.lastrowid, "name": body["name"]})
        self._send(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        print(f"{WORKER_ID}: {fmt % args}", flush=True)


if __name__ == "__main__":
    print(f"{WORKER_ID}: pid {os.getpid()} listening on 127.0.0.1:{PORT}", flush=True)
    sys.stdout.flush()
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
