//! What a `Content-Type` says about a body: the server parses by it, the record keeps by it.

/// Whether a `Content-Type` says JSON: `application/json` or any `+json` type such as
/// `application/problem+json`. A parameter (`text/plain; charset=json`) does not make a
/// type JSON: text/plain is what a cross-site form may send without asking.
pub fn is_json_content_type(content_type: &str) -> bool {
    content_type.parse::<mime::Mime>().is_ok_and(|parsed| {
        parsed.type_() == mime::APPLICATION
            && (parsed.subtype() == mime::JSON || parsed.suffix() == Some(mime::JSON))
    })
}
