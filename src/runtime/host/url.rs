//! URL parsing for js/web/url.js's `URL` (and so `Request` and `fetch`): the WHATWG URL standard as
//! the `url` crate (through reqwest) implements it, which is both exact and far cheaper than parsing in
//! interpreted JavaScript (each `fetch` parses its URL).

use rquickjs::{Ctx, Function, IntoJs, Object};

/// A parsed URL as url.js's URL record holds it: `path` is the list of segments, or the whole
/// path of an opaque URL (`mailto:x`); `host` is `None` for a URL without authority.
pub struct UrlRecord {
    scheme: String,
    username: String,
    password: String,
    host: Option<String>,
    port: Option<String>,
    path: Result<Vec<String>, String>,
    query: Option<String>,
    fragment: Option<String>,
}

/// Parses `input` (against `base`, itself a URL string): `None` when either is invalid.
pub fn parse(input: &str, base: Option<&str>) -> Option<UrlRecord> {
    let url = match base {
        Some(base) => reqwest::Url::parse(base).ok()?.join(input).ok()?,
        None => reqwest::Url::parse(input).ok()?,
    };
    let path = if url.cannot_be_a_base() {
        Err(url.path().to_string())
    } else {
        let path = url.path();
        Ok(match path.strip_prefix('/') {
            Some(rest) => rest.split('/').map(String::from).collect(),
            None => Vec::new(),
        })
    };
    Some(UrlRecord {
        scheme: url.scheme().to_string(),
        username: url.username().to_string(),
        password: url.password().unwrap_or_default().to_string(),
        host: url
            .has_authority()
            .then(|| url.host_str().unwrap_or_default().to_string()),
        port: url.port().map(|port| port.to_string()),
        path,
        query: url.query().map(String::from),
        fragment: url.fragment().map(String::from),
    })
}

impl<'js> IntoJs<'js> for UrlRecord {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        // The record's absent parts are `null` (rquickjs makes `None` undefined).
        let text = |value: Option<String>| -> rquickjs::Result<rquickjs::Value<'js>> {
            match value {
                Some(value) => value.into_js(ctx),
                None => Ok(rquickjs::Value::new_null(ctx.clone())),
            }
        };
        let record = Object::new(ctx.clone())?;
        record.set("scheme", self.scheme)?;
        record.set("username", self.username)?;
        record.set("password", self.password)?;
        record.set("host", text(self.host)?)?;
        record.set("port", text(self.port)?)?;
        match self.path {
            Ok(segments) => {
                record.set("path", segments)?;
                record.set("opaque", false)?;
            }
            Err(opaque) => {
                record.set("path", opaque)?;
                record.set("opaque", true)?;
            }
        }
        record.set("query", text(self.query)?)?;
        record.set("fragment", text(self.fragment)?)?;
        Ok(record.into_value())
    }
}

/// The native functions the js/web/ files receive (it runs before the host's own glue).
pub fn web_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "parseURL",
        Function::new(ctx.clone(), |input: String, base: Option<String>| {
            parse(&input, base.as_deref())
        })?,
    )?;
    super::encoding::install(ctx, &natives)?;
    super::form::install(ctx, &natives)?;
    Ok(natives)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Path = Result<Vec<String>, String>;

    fn parts(input: &str, base: Option<&str>) -> Option<(Option<String>, Path)> {
        parse(input, base).map(|r| (r.host, r.path))
    }

    #[test]
    fn records_match_what_the_web_platform_parser_builds() {
        assert_eq!(
            parts("http://127.0.0.1:8080/a/b?x#y", None),
            Some((Some("127.0.0.1".into()), Ok(vec!["a".into(), "b".into()])))
        );
        let default_port = parse("https://example.com:443/", None).expect("valid");
        assert_eq!(default_port.port, None);
        assert_eq!(default_port.path, Ok(vec![String::new()]));
        assert_eq!(
            parts("mailto:someone@example.com", None),
            Some((None, Err("someone@example.com".into())))
        );
        assert_eq!(
            parts("file:///tmp/x", None).and_then(|p| p.0),
            Some(String::new())
        );
        assert_eq!(
            parts("/a/../c?q", Some("http://example.com/x/y")),
            Some((Some("example.com".into()), Ok(vec!["c".into()])))
        );
        assert_eq!(
            parse("http://[::1]:80/", None).and_then(|r| r.host),
            Some("[::1]".into())
        );
        assert!(parse("http://exa mple.com/", None).is_none());
        assert!(parse("relative/only", None).is_none());
    }
}
