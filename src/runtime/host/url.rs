//! The URL standard for js/web/url.js: `URL` parsing, its getters and setters (ada, through the
//! `ada-url` crate: the implementation Node uses, which follows the current standard where the
//! `url` crate still differs, e.g. hosts and drive letters of `file:` URLs) and the
//! `application/x-www-form-urlencoded` parser and serializer behind `URLSearchParams`
//! (`form_urlencoded`). Native because both are exact and far cheaper than interpreted
//! JavaScript (each `fetch` parses its URL).

use ada_url::Url;
use rquickjs::{Ctx, Function, IntoJs, Object};

/// A parsed URL as url.js's `URL` reads it: the serialization and every attribute's getter value.
#[derive(Debug, PartialEq)]
pub struct UrlParts {
    href: String,
    origin: String,
    protocol: String,
    username: String,
    password: String,
    host: String,
    hostname: String,
    port: String,
    pathname: String,
    search: String,
    hash: String,
}

impl UrlParts {
    fn of(url: &Url) -> Self {
        UrlParts {
            href: url.href().to_string(),
            origin: url.origin(),
            protocol: url.protocol().to_string(),
            username: url.username().to_string(),
            password: url.password().to_string(),
            host: url.host().to_string(),
            hostname: url.hostname().to_string(),
            port: url.port().to_string(),
            pathname: url.pathname().to_string(),
            search: url.search().to_string(),
            hash: url.hash().to_string(),
        }
    }
}

/// Parses `input` against `base` (itself a URL string): `None` when either is invalid.
pub fn parse(input: &str, base: Option<&str>) -> Option<UrlParts> {
    Url::parse(input, base).ok().map(|url| UrlParts::of(&url))
}

/// The URL `href` after setting `attribute` to `value` as the URL standard's setters do (an
/// invalid value leaves the URL as it was); `None` for an invalid `href`, or an invalid value
/// given to the `href` setter, which throws.
pub fn set(href: &str, attribute: &str, value: &str) -> Option<UrlParts> {
    let mut url = Url::parse(href, None).ok()?;
    // A setter's `Err(())` means "the value is invalid: the URL stays as it was", as the standard says.
    let value = Some(value);
    match attribute {
        "href" => url.set_href(value?).ok()?,
        "protocol" => url.set_protocol(value?).unwrap_or(()),
        "username" => url.set_username(value).unwrap_or(()),
        "password" => url.set_password(value).unwrap_or(()),
        "host" => url.set_host(value).unwrap_or(()),
        "hostname" => url.set_hostname(value).unwrap_or(()),
        "port" => url.set_port(value).unwrap_or(()),
        "pathname" => url.set_pathname(value).unwrap_or(()),
        "search" => url.set_search(value),
        "hash" => url.set_hash(value),
        _ => return None,
    }
    Some(UrlParts::of(&url))
}

/// The name-value pairs of an `application/x-www-form-urlencoded` string (`+` is a space,
/// percent-escapes are bytes, invalid UTF-8 becomes U+FFFD).
pub fn form_parse(input: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(input.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The `application/x-www-form-urlencoded` serialization of name-value pairs.
pub fn form_serialize(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl<'js> IntoJs<'js> for UrlParts {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        let parts = Object::new(ctx.clone())?;
        parts.set("href", self.href)?;
        parts.set("origin", self.origin)?;
        parts.set("protocol", self.protocol)?;
        parts.set("username", self.username)?;
        parts.set("password", self.password)?;
        parts.set("host", self.host)?;
        parts.set("hostname", self.hostname)?;
        parts.set("port", self.port)?;
        parts.set("pathname", self.pathname)?;
        parts.set("search", self.search)?;
        parts.set("hash", self.hash)?;
        Ok(parts.into_value())
    }
}

/// The native functions the js/web/ files receive (it runs before the host's own glue).
pub fn web_natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "urlParse",
        Function::new(ctx.clone(), |input: String, base: Option<String>| {
            parse(&input, base.as_deref())
        })?,
    )?;
    super::encoding::install(ctx, &natives)?;
    super::form::install(ctx, &natives)?;
    natives.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |href: String, attribute: String, value: String| set(&href, &attribute, &value),
        )?,
    )?;
    natives.set(
        "formParse",
        Function::new(ctx.clone(), |input: String| {
            form_parse(&input)
                .into_iter()
                .map(|(name, value)| vec![name, value])
                .collect::<Vec<_>>()
        })?,
    )?;
    natives.set(
        "formSerialize",
        Function::new(ctx.clone(), |pairs: Vec<Vec<String>>| {
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .map(|mut pair| {
                    let value = pair.pop().unwrap_or_default();
                    let name = pair.pop().unwrap_or_default();
                    (name, value)
                })
                .collect();
            form_serialize(&pairs)
        })?,
    )?;
    Ok(natives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_the_url_standard_getters() {
        let url = parse("HTTP://u:p@Example.COM:8080/a/../b?x#y", None).expect("valid");
        assert_eq!(url.href, "http://u:p@example.com:8080/b?x#y");
        assert_eq!(url.origin, "http://example.com:8080");
        assert_eq!(
            (url.host.as_str(), url.port.as_str()),
            ("example.com:8080", "8080")
        );
        assert_eq!((url.search.as_str(), url.hash.as_str()), ("?x", "#y"));
        assert_eq!(
            parse("https://example.com:443/", None).map(|u| u.port),
            Some(String::new())
        );
        assert_eq!(
            parse("mailto:someone@example.com", None).map(|u| u.pathname),
            Some("someone@example.com".into())
        );
        assert_eq!(
            parse("/a/../c?q", Some("http://example.com/x/y")).map(|u| u.href),
            Some("http://example.com/c?q".into())
        );
        assert_eq!(
            parse("blob:https://a.com:8/x", None).map(|u| u.origin),
            Some("https://a.com:8".into())
        );
        assert_eq!(
            parse("blob:ws://a.com/", None).map(|u| u.origin),
            Some("null".into())
        );
        assert!(parse("http://exa mple.com/", None).is_none());
        assert!(parse("relative/only", None).is_none());
        assert!(parse("x", Some("not a base")).is_none());
    }

    #[test]
    fn setters_change_what_the_standard_lets_them_change() {
        let href = |u: Option<UrlParts>| u.map(|u| u.href);
        assert_eq!(
            href(set("http://a.com/p", "host", "b.com:81")),
            Some("http://b.com:81/p".into())
        );
        // An invalid port leaves the URL as it was; a default port is dropped.
        assert_eq!(
            href(set("http://a.com/", "port", "99999")),
            Some("http://a.com/".into())
        );
        assert_eq!(
            href(set("https://a.com:1/", "port", "443")),
            Some("https://a.com/".into())
        );
        assert_eq!(
            href(set("http://a.com/", "search", "a b")),
            Some("http://a.com/?a%20b".into())
        );
        assert_eq!(set("http://a.com/", "href", "not a url"), None);
        assert_eq!(set("http://a.com/", "nope", "x"), None);
    }

    #[test]
    fn form_bodies_parse_and_serialize_as_the_standard_says() {
        assert_eq!(
            form_parse("a=b+c&&%C2&x%3D=%zz"),
            vec![
                ("a".into(), "b c".into()),
                ("\u{FFFD}".into(), String::new()),
                ("x=".into(), "%zz".into())
            ]
        );
        assert_eq!(
            form_serialize(&[("a b".into(), "*-._~&=+".into())]),
            "a+b=*-._%7E%26%3D%2B"
        );
    }
}
