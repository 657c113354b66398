//! The statements flux sends most (claims, the record writer's batch), prepared once per
//! connection and reused: a statement sent as text is parsed, analysed and planned again at
//! every call, which was a quarter of PostgreSQL's time under the queue's load.
//!
//! Named prepared statements live in the server's session: behind PgBouncer in transaction
//! mode they need its protocol-level support (`max_prepared_statements`, PgBouncer 1.21 and
//! later; on by default since 1.22).

use std::collections::HashMap;

use postgres::{GenericClient, Statement};

/// One connection's prepared statements, by their SQL. Cleared when its connection is
/// replaced, and after any error of a statement (a schema change since it was prepared makes
/// PostgreSQL refuse it: prepared again at its next use).
#[derive(Default)]
pub struct Prepared(HashMap<&'static str, Statement>);

impl Prepared {
    /// `sql` prepared on `client`'s connection (the first time only).
    pub fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        // `@S@`: flux's schema, the connection's own, named so that nothing earlier on a
        // search path stands in for what it names.
        let statement = match sql.contains("@S@") {
            true => {
                let schema: String = client
                    .query_one("SELECT current_schema()::text", &[])?
                    .get(0);
                client.prepare(&super::schema::in_schema(sql, &schema))?
            }
            false => client.prepare(sql)?,
        };
        self.0.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Forgets every statement: the connection is new, or one of them failed.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}
