//! Captured emails: `flux email list|show`, their place in `flux trace`, and placeholders the
//! data has no value for.

use std::time::Duration;

use crate::support::{wait_for, Project};

const TEMPLATE: &str = "<!doctype html><html><head><title>Welcome aboard</title></head>\
<body><h1>Welcome, {{ name }}!</h1><p>Your plan: <b>{{ plan }}</b>.</p></body></html>";

fn project() -> Project {
    Project::with_files(&[
        ("emails/welcome.html", TEMPLATE),
        (
            "functions/signup.ts",
            "export default async (req, ctx) => {
               await ctx.email.send({ to: req.body.email, template: 'welcome', data: req.body.data })
               return 'sent'
             }",
        ),
    ])
}

/// Times and ids differ from run to run.
macro_rules! with_filters {
    ($body:block) => {
        insta::with_settings!({ filters => vec![
            // As wide as a time, so columns stay aligned.
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "YYYY-MM-DDTHH:MM:SS.mmmZ"),
            (r"req:[0-9a-f]{8}", "req:[ID]"),
        ]}, $body)
    };
}

#[test]
fn captured_emails_are_listed_shown_and_opened() {
    let project = project();
    let server = project.start();
    for (to, name) in [("ada@example.com", "Ada"), ("bob@example.com", "Bob")] {
        let body = format!(r#"{{"email":"{to}","data":{{"name":"{name}","plan":"pro"}}}}"#);
        assert_eq!(server.post_json("/signup", &body).status, 200);
    }
    let (code, list, stderr) = project.run(&["email", "list"]);
    assert_eq!(code, 0, "{stderr}");
    let list: Vec<&str> = list.lines().map(str::trim_end).collect();
    with_filters!({
        insta::assert_snapshot!(list.join("\n"), @r"
        ID  SENT                      TO               SUBJECT         SENT BY
        2   YYYY-MM-DDTHH:MM:SS.mmmZ  bob@example.com  Welcome aboard  req:[ID]
        1   YYYY-MM-DDTHH:MM:SS.mmmZ  ada@example.com  Welcome aboard  req:[ID]
        ");
    });
    let (code, shown, stderr) = project.run(&["email", "show", "1"]);
    assert_eq!(code, 0, "{stderr}");
    with_filters!({
        insta::assert_snapshot!(shown, @r"
        EMAIL 1  YYYY-MM-DDTHH:MM:SS.mmmZ  req:[ID]
        To:       ada@example.com
        Subject:  Welcome aboard
        Template: welcome

        # Welcome, Ada!

        Your plan: **pro**.
        ");
    });
    let (code, html, _) = project.run(&["email", "show", "2", "--html"]);
    assert_eq!(code, 0);
    assert!(html.contains("<h1>Welcome, Bob!</h1>"), "{html}");

    // --open hands the browser a file holding the HTML ($BROWSER is how a test sees it).
    let opened = project.path().join("opened.txt");
    let browser = project.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display()),
    )
    .expect("write browser");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let output = project
        .flux(&["email", "show", "1", "--open"])
        .env("BROWSER", &browser)
        .output()
        .expect("run flux");
    assert!(output.status.success(), "{output:?}");
    // The browser is started, not waited for.
    let url = wait_for("the browser to be started", Duration::from_secs(10), || {
        std::fs::read_to_string(&opened)
            .ok()
            .filter(|url| url.ends_with('\n'))
    });
    let path = url.trim().trim_start_matches("file://");
    let page = std::fs::read_to_string(path).expect("the opened file");
    assert!(page.contains("Welcome, Ada!"), "{page}");

    // Unknown numbers and non-numbers are refused plainly.
    let (code, _, stderr) = project.run(&["email", "show", "99"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no email 99"), "{stderr}");
    let (code, _, _) = project.run(&["email", "show", "abc"]);
    assert_eq!(code, 2);

    // With flux dev stopped, the store answers.
    drop(server);
    let (code, list, stderr) = project.run(&["email", "list", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let emails: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(emails[0]["to"], "bob@example.com");
    assert_eq!(emails[1]["subject"], "Welcome aboard");
}

#[test]
fn a_placeholder_without_a_value_warns_and_stays_visible() {
    let project = project();
    let server = project.start();
    let reply = server.post_json(
        "/signup",
        r#"{"email":"ada@example.com","data":{"userName":"Ada"}}"#,
    );
    assert_eq!(reply.status, 200);
    let id = reply.request_id();
    // On flux dev's console and in the record.
    let warning = "email 'welcome': no value for {{ name }}, {{ plan }} (data has userName)";
    server.wait_for_output(warning);
    let record = server.record(&id);
    let console = record["console"].as_array().expect("console");
    assert!(
        console
            .iter()
            .any(|l| l["level"] == "warn" && l["message"].as_str().unwrap_or("").contains(warning)),
        "{console:?}"
    );
    // The email shows the gap instead of "Welcome, !".
    let (_, html, _) = project.run(&["email", "show", "1", "--html"]);
    assert!(html.contains("Welcome, {{ name }}!"), "{html}");
    // flux trace shows the email under its span, with the command that shows it.
    let (code, trace, stderr) = project.run(&["trace", &id]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        trace.contains("to ada@example.com: 'Welcome aboard' (flux email show 1)"),
        "{trace}"
    );
}
