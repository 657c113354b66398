-- Users of the welcome example. Ids look like u_3f2a9c0d1e4b5a6f.
CREATE TABLE users (
  id         TEXT PRIMARY KEY NOT NULL DEFAULT ('u_' || lower(hex(randomblob(8)))),
  email      TEXT NOT NULL,
  name       TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
