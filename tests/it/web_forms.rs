//! Form bodies reaching functions: a form post and a multipart upload arrive in `req.body` (an
//! object of fields, a file as a `File`, a repeated field as an array), FormData bodies sent
//! with `fetch` are multipart a server parses, and hostile uploads are refused with a recorded
//! 4xx.

use serde_json::json;

use crate::support::{Project, Server};

// Each value in `req.body` as JSON: a File as its name, type, size and bytes.
const SUMMARY: &str = "
const one = async (v) => v instanceof File
  ? { file: v.name, type: v.type, size: v.size, bytes: Array.from(await v.bytes()) }
  : v
export const summary = async (body) => {
  const out = {}
  for (const [k, v] of Object.entries(body)) out[k] = Array.isArray(v) ? await Promise.all(v.map(one)) : await one(v)
  return out
}
";

fn project() -> Project {
    Project::with_files(&[
        ("functions/_summary.ts", SUMMARY),
        (
            "functions/upload.ts",
            "import { summary } from './_summary.ts'\n\
             export default async (req) => summary(req.body)",
        ),
        // Posts a FormData with `fetch` to /upload on the same server.
        (
            "functions/send.ts",
            "export default async (req) => {\n\
               const form = new FormData()\n\
               form.append('title', 'Hi \"there\"')\n\
               form.append('doc', new File([new Uint8Array([0, 255, 13, 10])], 'a b.bin', { type: 'application/x-thing' }))\n\
               form.append('doc', new Blob(['second']))\n\
               const res = await fetch(req.query.to, { method: 'POST', body: form })\n\
               return res.json()\n\
             }",
        ),
    ])
}

fn post(server: &Server, path: &str, content_type: &str, body: Vec<u8>) -> crate::support::Reply {
    server.send(
        server
            .request(reqwest::Method::POST, path)
            .header("content-type", content_type)
            .body(body),
    )
}

fn part(name: &str, headers: &str, data: &[u8]) -> Vec<u8> {
    let mut out =
        format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"{headers}\r\n\r\n")
            .into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn a_form_post_reaches_req_body_as_fields_with_repeats_as_arrays() {
    let project = project();
    let server = project.start();
    let reply = post(
        &server,
        "/upload",
        "application/x-www-form-urlencoded",
        b"name=Ada+L%C3%B6we&tag=a&tag=b&empty=".to_vec(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"name": "Ada Löwe", "tag": ["a", "b"], "empty": ""})
    );
}

#[test]
fn a_multipart_upload_reaches_req_body_with_files_and_is_recorded_without_their_bytes() {
    let project = project();
    let server = project.start();
    let png = [0x89, b'P', b'N', b'G', 0, 255, 13, 10];
    let mut body = part("title", "", b"Hello");
    body.extend(part("tag", "", b"a"));
    body.extend(part("tag", "", b"b"));
    body.extend(part(
        "avatar",
        "; filename=\"me.png\"\r\nContent-Type: image/png",
        &png,
    ));
    body.extend_from_slice(b"--B--\r\n");
    let reply = post(&server, "/upload", "multipart/form-data; boundary=B", body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({
            "title": "Hello",
            "tag": ["a", "b"],
            "avatar": {"file": "me.png", "type": "image/png", "size": 8, "bytes": png},
        })
    );
    let record = server.record(&reply.request_id());
    assert_eq!(
        record["input"]["body"],
        json!({"title": "Hello", "tag": ["a", "b"], "avatar": {"file": "me.png", "type": "image/png", "bytes": 8}})
    );
}

#[test]
fn a_large_text_field_reaches_req_body_whole_and_is_recorded_cut() {
    let project = project();
    project.write(
        "flux.config.ts",
        "export default { http: { maxBodySize: '8mb' } }",
    );
    let server = project.start();
    let big = "x".repeat(3 * 1024 * 1024);
    let mut body = part("title", "", b"Hello");
    body.extend(part("essay", "", big.as_bytes()));
    body.extend(part(
        "doc",
        "; filename=\"a.txt\"\r\nContent-Type: text/plain",
        b"hi",
    ));
    body.extend_from_slice(b"--B--\r\n");
    let reply = post(&server, "/upload", "multipart/form-data; boundary=B", body);
    assert_eq!(
        reply.status,
        200,
        "{}",
        reply.body.chars().take(200).collect::<String>()
    );
    let got = reply.json();
    assert_eq!(got["essay"].as_str().map(str::len), Some(big.len()));
    assert_eq!(got["title"], "Hello");
    let record = server.record(&reply.request_id());
    let recorded = &record["input"]["body"];
    assert_eq!(recorded["title"], "Hello");
    assert_eq!(recorded["essay"]["truncated"], true);
    assert_eq!(recorded["essay"]["bytes"], big.len());
    assert_eq!(recorded["essay"]["head"], "x".repeat(1024));
    assert_eq!(
        recorded["doc"],
        json!({"file": "a.txt", "type": "text/plain", "bytes": 2})
    );
    // Within the record's 64 KB limit on bodies, with room for the names.
    let size = serde_json::to_string(recorded).unwrap().len();
    assert!(size <= 64 * 1024 + 1024, "{size} bytes recorded");
}

#[test]
fn a_form_data_sent_with_fetch_is_multipart_the_server_parses() {
    let project = project();
    let server = project.start();
    let to = format!("{}/upload", server.url);
    let reply = server.send(
        server
            .request(reqwest::Method::GET, "/send")
            .query(&[("to", to.as_str())]),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({
            // Quotes in a value are sent as they are; only names are escaped.
            "title": "Hi \"there\"",
            "doc": [
                {"file": "a b.bin", "type": "application/x-thing", "size": 4, "bytes": [0, 255, 13, 10]},
                {"file": "blob", "type": "application/octet-stream", "size": 6, "bytes": b"second"},
            ],
        })
    );
}

#[test]
fn hostile_uploads_are_refused_with_a_recorded_400() {
    let project = project();
    project.write(
        "flux.config.ts",
        "export default { http: { maxBodySize: '8mb' } }",
    );
    let server = project.start();
    let many = part("a", "", b"").repeat(100_000);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "multipart/form-data; boundary=B",
            many,
            "the multipart/form-data body has more than 1000 parts",
        ),
        (
            "multipart/form-data; boundary=B",
            b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end in sight".to_vec(),
            "malformed multipart/form-data body",
        ),
        (
            "multipart/form-data",
            part("a", "", b"x"),
            "a multipart/form-data body needs a boundary",
        ),
    ];
    for (content_type, body, message) in cases {
        let reply = post(&server, "/upload", content_type, body);
        assert_eq!(reply.status, 400, "{}", reply.body);
        let error = reply.json()["error"].as_str().unwrap_or("").to_string();
        assert!(error.starts_with(message), "{error}");
        let record = server.record(&reply.request_id());
        assert_eq!(record["status"], "error");
        assert_eq!(record["http_status"], 400);
    }
    // The server still serves.
    let reply = post(
        &server,
        "/upload",
        "application/x-www-form-urlencoded",
        b"ok=1".to_vec(),
    );
    assert_eq!(reply.json(), json!({"ok": "1"}));
}
