//! `multipart/form-data` bodies (RFC 7578), parsed with multer: the server's `req.body` for an
//! upload, and `Request`/`Response` `.formData()` in JS. The whole body is already in memory
//! (the server read it within its size limit), so multer's stream is driven to its end without
//! an executor: every poll is ready.

use bytes::Bytes;
use futures_util::FutureExt;
use serde_json::{Map, Value};

use super::worker::{truncated_body, MAX_RECORDED_BODY, RECORDED_HEAD};

/// At most this many parts: each becomes a value in the function's context, so a body of tiny
/// parts (100,000 in a megabyte) must not cost what its size does not show. 1,000 is PHP's
/// `max_input_vars`, and more than a form has.
pub const MAX_PARTS: usize = 1000;

/// One part of the body: a field's text, or a file.
#[derive(Debug)]
pub struct Part {
    pub name: String,
    /// Set for a file (a part with a `filename`): its name, possibly empty.
    pub filename: Option<String>,
    /// The part's `Content-Type`, for a file.
    pub content_type: Option<String>,
    pub data: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("a multipart/form-data body needs a boundary in its Content-Type (e.g. multipart/form-data; boundary=x)")]
    NoBoundary,
    #[error("the multipart/form-data body has more than {MAX_PARTS} parts")]
    TooManyParts,
    #[error("malformed multipart/form-data body: {0}")]
    Malformed(#[from] multer::Error),
    #[error("malformed multipart/form-data body: it ends before its closing boundary")]
    Incomplete,
}

/// The parts of `body`, whose `Content-Type` is `content_type`, in their order.
pub fn parse(content_type: &str, body: Bytes) -> Result<Vec<Part>, MultipartError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| MultipartError::NoBoundary)?;
    let stream = futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(body)]);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    // Ready at once, since the stream is: a pending poll would mean a part never ended.
    while let Some(field) = multipart
        .next_field()
        .now_or_never()
        .ok_or(MultipartError::Incomplete)??
    {
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(String::from);
        let content_type = field.content_type().map(|mime| mime.to_string());
        let data = field
            .bytes()
            .now_or_never()
            .ok_or(MultipartError::Incomplete)??;
        parts.push(Part {
            name,
            filename,
            content_type,
            data,
        });
    }
    Ok(parts)
}

/// Parts as `req.body`: an object of fields, a file as `{ name, type, base64 }` (the glue makes
/// it a `File`), a repeated field as an array of its values in order.
pub fn body_value(parts: &[Part]) -> Value {
    collect(parts.iter().map(|part| {
        let value = match &part.filename {
            None => Value::String(String::from_utf8_lossy(&part.data).into_owned()),
            Some(filename) => {
                use base64::Engine as _;
                serde_json::json!({
                    "name": filename,
                    "type": part.content_type.clone().unwrap_or_default(),
                    "base64": base64::engine::general_purpose::STANDARD.encode(&part.data),
                })
            }
        };
        (part.name.as_str(), value)
    }))
}

/// Parts as the record keeps them: fields as text, a file as its name, type and size. The
/// fields' text is kept up to [`MAX_RECORDED_BODY`] in all, as any recorded body is: a field
/// past it is kept as its size and head (what is left of the limit, at most [`RECORDED_HEAD`]).
pub fn recorded_value(parts: &[Part]) -> Value {
    let mut left = MAX_RECORDED_BODY;
    collect(parts.iter().map(|part| {
        let value = match &part.filename {
            None if part.data.len() <= left => {
                left -= part.data.len();
                Value::String(String::from_utf8_lossy(&part.data).into_owned())
            }
            None => {
                let head = left.min(RECORDED_HEAD);
                left -= head;
                truncated_body(&part.data, head)
            }
            Some(filename) => serde_json::json!({
                "file": filename,
                "type": part.content_type.clone().unwrap_or_default(),
                "bytes": part.data.len(),
            }),
        };
        (part.name.as_str(), value)
    }))
}

/// Fields by name in the order they first came, a repeated one as an array of its values.
pub fn collect<K>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value
where
    K: AsRef<str> + Into<String>,
{
    let mut object = Map::new();
    for (name, v) in pairs {
        match object.get_mut(name.as_ref()) {
            Some(Value::Array(values)) => values.push(v),
            Some(first) => *first = Value::Array(vec![first.take(), v]),
            None => {
                object.insert(name.into(), v);
            }
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=X";

    #[test]
    fn fields_and_files_come_in_order_with_repeats_as_arrays() {
        let body = "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
                    --X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
                    --X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n--X--\r\n";
        let parts = parse(TYPE, Bytes::from(body)).expect("parses");
        assert_eq!(
            recorded_value(&parts),
            serde_json::json!({"a": ["1", "2"], "f": {"file": "x.txt", "type": "text/plain", "bytes": 2}})
        );
    }

    #[test]
    fn the_record_keeps_the_fields_text_up_to_the_recorded_body_limit_in_all() {
        let field = |name: &str, text: &[u8]| Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: Bytes::copy_from_slice(text),
        };
        let big = vec![b'x'; MAX_RECORDED_BODY + 10];
        let rest = vec![b'y'; MAX_RECORDED_BODY - 1 - RECORDED_HEAD];
        let parts = [
            field("a", b"1"),
            field("big", &big),
            field("rest", &rest),
            field("over", b"z"),
            Part {
                name: "f".into(),
                filename: Some("x.bin".into()),
                content_type: None,
                data: Bytes::from_static(b"hi"),
            },
        ];
        let recorded = recorded_value(&parts);
        assert_eq!(recorded["a"], "1");
        assert_eq!(
            recorded["big"],
            serde_json::json!({"truncated": true, "bytes": big.len(), "head": "x".repeat(RECORDED_HEAD)})
        );
        // What was left of the limit fits exactly; past it, a field keeps no head at all.
        assert_eq!(recorded["rest"].as_str().map(str::len), Some(rest.len()));
        assert_eq!(
            recorded["over"],
            serde_json::json!({"truncated": true, "bytes": 1, "head": ""})
        );
        assert_eq!(
            recorded["f"],
            serde_json::json!({"file": "x.bin", "type": "", "bytes": 2})
        );
        // The whole body is still req.body's.
        assert_eq!(
            body_value(&parts)["big"].as_str().map(str::len),
            Some(big.len())
        );
    }

    #[test]
    fn a_part_without_end_and_too_many_parts_are_errors() {
        let open = "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end";
        assert!(parse(TYPE, Bytes::from(open)).is_err());
        let many = "--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
            .repeat(MAX_PARTS + 1)
            + "--X--\r\n";
        assert!(matches!(
            parse(TYPE, Bytes::from(many)),
            Err(MultipartError::TooManyParts)
        ));
        assert!(matches!(
            parse("multipart/form-data", Bytes::new()),
            Err(MultipartError::NoBoundary)
        ));
    }
}
