use serde_json::Value;

/// A JSON value the way Node's `util.inspect` shows it, ready for the terminal:
/// `{ userId: 'u_99', email: 'a@b.com' }`, any control character in it escaped.
pub fn inspect(value: &Value) -> String {
    super::escape(&crate::record::inspect(value)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_characters_in_strings_are_escaped_inside_the_quotes() {
        assert_eq!(
            inspect(&json!({ "k\u{1b}": "it's\n\u{202e}" })),
            "{ 'k\\u{1b}': 'it\\'s\\n\\u{202e}' }"
        );
    }
}
