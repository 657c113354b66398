//! SQL written for one engine that fails on the other: the portable form to write instead,
//! for the common cases. One table, so the README's "SQL that runs on both" and the hints
//! stay in step; a hint is given only for the engine the statement failed on, and only when
//! the failing line has the construct (a wrong hint is worse than none).

use regex::RegexBuilder;

/// The SQL engine a statement failed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// (the engine that refuses it, the construct as a case-insensitive regex, the hint).
const HINTS: &[(Dialect, &str, &str)] = &[
    (
        Dialect::Postgres,
        r"\bautoincrement\b",
        "AUTOINCREMENT is SQLite's: for ids both engines take, make them in the function \
         (e.g. 'u_' + crypto.randomUUID()) into a TEXT PRIMARY KEY",
    ),
    (
        Dialect::Postgres,
        r"\binsert\s+or\s+(ignore|replace)\b|\breplace\s+into\b",
        "INSERT OR IGNORE / INSERT OR REPLACE are SQLite's: write INSERT … ON CONFLICT (column) \
         DO NOTHING (or DO UPDATE SET column = excluded.column), which both engines take",
    ),
    (
        Dialect::Postgres,
        r"\b(strftime|datetime|julianday|unixepoch)\s*\(|\bdate\s*\(\s*'now'",
        "SQLite's time functions: write the time from the function \
         (new Date().toISOString()) into a TEXT column, or use DEFAULT CURRENT_TIMESTAMP, \
         which both engines take",
    ),
    (
        Dialect::Postgres,
        r"\b(randomblob|hex)\s*\(",
        "randomblob()/hex() are SQLite's: make ids in the function (crypto.randomUUID()) \
         and insert them",
    ),
    (
        Dialect::Postgres,
        r"\b(datetime|blob)\b",
        "DATETIME/BLOB are SQLite's type names: store times as TEXT (ISO 8601) and bytes as \
         TEXT (base64), which both engines take",
    ),
    (
        Dialect::Sqlite,
        r"\b(now|gen_random_uuid|uuid_generate_v4|clock_timestamp)\s*\(",
        "now()/gen_random_uuid() are PostgreSQL's: write times and ids from the function \
         (new Date().toISOString(), crypto.randomUUID()), or use DEFAULT CURRENT_TIMESTAMP, \
         which both engines take",
    ),
    (
        Dialect::Sqlite,
        r"::",
        "`value::type` is PostgreSQL's cast: write CAST(value AS type), which both engines take",
    ),
    (
        Dialect::Sqlite,
        r"\bilike\b",
        "ILIKE is PostgreSQL's: write lower(column) LIKE lower($1), which both engines take",
    ),
    (
        Dialect::Sqlite,
        r"\bgenerated\s+(always|by\s+default)\s+as\s+identity\b",
        "identity columns are PostgreSQL's: make ids in the function (crypto.randomUUID()) \
         into a TEXT PRIMARY KEY",
    ),
];

/// The hint for SQL that failed on `dialect` at `line` (the failing line's text), if the
/// line has a construct the table knows.
pub fn hint(dialect: Dialect, line: &str) -> Option<&'static str> {
    HINTS
        .iter()
        .filter(|(refused_by, _, _)| *refused_by == dialect)
        .find(|(_, pattern, _)| {
            RegexBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .is_ok_and(|re| re.is_match(line))
        })
        .map(|(_, _, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        for (_, pattern, _) in HINTS {
            assert!(regex::Regex::new(pattern).is_ok(), "{pattern}");
        }
    }

    #[test]
    fn hints_name_the_portable_form_on_the_engine_that_refused() {
        let on_pg = |line| hint(Dialect::Postgres, line);
        assert!(on_pg("id INTEGER PRIMARY KEY AUTOINCREMENT,")
            .is_some_and(|h| h.contains("TEXT PRIMARY KEY")));
        assert!(
            on_pg("insert or ignore into t values (1);").is_some_and(|h| h.contains("ON CONFLICT"))
        );
        assert!(on_pg("at TEXT DEFAULT (strftime('%s', 'now'))")
            .is_some_and(|h| h.contains("toISOString")));
        assert!(on_pg("at TEXT DEFAULT (datetime('now'))").is_some_and(|h| h.contains("TEXT")));
        assert!(hint(Dialect::Sqlite, "at TEXT DEFAULT now()")
            .is_some_and(|h| h.contains("CURRENT_TIMESTAMP")));
        // The construct is SQLite's own: failing on SQLite, it is not the reason.
        assert_eq!(
            hint(Dialect::Sqlite, "id INTEGER PRIMARY KEY AUTOINCREMENT"),
            None
        );
        assert_eq!(on_pg("CREATE TABLE t (a TEXT);"), None);
    }
}
