-- Users of the welcome example, in SQL that runs on SQLite and PostgreSQL alike (see the
-- README's "SQL that runs on both"): create_user makes the id (like u_3f2a9c0d1e4b5a6f) and
-- writes created_at as an ISO 8601 time; a row inserted by hand without one gets the
-- engine's CURRENT_TIMESTAMP.
CREATE TABLE users (
  id         TEXT PRIMARY KEY NOT NULL,
  email      TEXT NOT NULL,
  name       TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
