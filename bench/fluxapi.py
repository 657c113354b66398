"""`flux dev`'s /_flux/api as the bench scripts call it, over one kept-alive connection."""
import http.client
import json
import urllib.parse


class Api:
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)

    def call(self, method, path, body=None):
        payload = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=payload, headers={"content-type": "application/json"} if payload else {})
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def stats(self, name):
        """The queue's counts for worker `name` (all zero before its first job)."""
        for row in self.call("GET", "/_flux/api/queue/stats")["stats"]:
            if row["function"] == name:
                return row
        return {"done": 0, "dead": 0, "pending": 0, "running": 0, "scheduled": 0}
