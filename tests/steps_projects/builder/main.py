"""The builder project's worker server (a stub of a Koii task's Flask worker: the same
endpoints, stdlib only). Checks the stakingSignature of each task request with the
worker's public key, keeps its pull requests in DATABASE_PATH (SQLite), and answers
{"success": false, ...} with HTTP 200 while the file named by FAIL_FLAG exists, as a
worker whose model call failed does.
"""

import json
import os
import re
import sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from trialrun.steps.utils import verify_signature

WORKER_ID = os.environ["WORKER_ID"]
DB = os.environ["DATABASE_PATH"]


def db():
    conn = sqlite3.connect(DB)
    conn.execute("CREATE TABLE IF NOT EXISTS prs (round INTEGER PRIMARY KEY, todo TEXT, url TEXT)")
    return conn


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        m = re.fullmatch(r"/worker-task/(\d+)", self.path)
        if not m:
            return self.reply(404, {"success": False, "error": "not found"})
        try:
            signed = verify_signature(body["signature"], body["stakingKey"])
        except (KeyError, ValueError) as e:
            return self.reply(401, {"success": False, "error": f"bad signature: {e}"})
        if signed["todoUuid"] != body["todoUuid"] or signed["roundNumber"] != int(m[1]):
            return self.reply(401, {"success": False, "error": "signed payload differs"})
        flag = os.environ.get("FAIL_FLAG")
        if flag and Path(flag).exists():
            return self.reply(200, {"success": False, "error": "the model timed out"})
        url = f"https://example.invalid/{WORKER_ID}/pull/{m[1]}"
        with db() as conn:
            conn.execute("REPLACE INTO prs VALUES (?, ?, ?)", (int(m[1]), body["todoUuid"], url))
        self.reply(200, {"success": True, "result": {"data": {"pr_url": url}}})

    def do_GET(self):  # noqa: N802
        m = re.fullmatch(r"/submission/(\d+)", self.path)
        row = (
            m and db().execute("SELECT todo, url FROM prs WHERE round = ?", (int(m[1]),)).fetchone()
        )
        if not row:
            return self.reply(404, {"success": False, "error": "no submission"})
        self.reply(
            200,
            {
                "roundNumber": int(m[1]),
                "todoUuid": row[0],
                "prUrl": row[1],
                "githubUsername": os.environ["GITHUB_USERNAME"],
            },
        )

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print(f"{WORKER_ID} listening on {os.environ['PORT']}", flush=True)
    server.serve_forever()
