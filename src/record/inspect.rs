//! A recorded JSON value the way Node's `util.inspect` shows it, for messages about records
//! (`flux why`'s findings). Terminal escaping is the renderer's: this only quotes.

use serde_json::Value;

/// `{ userId: 'u_99', email: 'a@b.com' }`. Strings are single-quoted with their backslashes
/// and quotes escaped, so what they hold cannot be mistaken for the quote's end.
pub fn inspect(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Array(items) => format!(
            "[ {} ]",
            items.iter().map(inspect).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let simple = k
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
                    let key = if simple { k.clone() } else { quote(k) };
                    format!("{key}: {}", inspect(v))
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_read_like_node() {
        assert_eq!(
            inspect(&json!({ "userId": "u_99", "email": "a@b.com" })),
            "{ userId: 'u_99', email: 'a@b.com' }"
        );
        assert_eq!(
            inspect(&json!({ "a-b": [1, null], "q": "it's \\" })),
            "{ 'a-b': [ 1, null ], q: 'it\\'s \\\\' }"
        );
    }
}
