use crate::support::{wait_for, Project, DEADLINE};

#[test]
fn edits_additions_and_removals_take_effect_on_the_next_request() {
    let project = Project::with_files(&[("functions/hello.ts", "export default () => 'v1'")]);
    let server = project.start();
    assert_eq!(server.get("/hello").json(), "v1");

    project.write("functions/hello.ts", "export default () => 'version two'");
    assert_eq!(server.get("/hello").json(), "version two");

    assert_eq!(server.get("/added").status, 404);
    project.write("functions/added.ts", "export default () => 'new'");
    assert_eq!(server.get("/added").json(), "new");

    std::fs::remove_file(project.path().join("functions/added.ts")).expect("remove");
    assert_eq!(server.get("/added").status, 404);
}

#[test]
fn a_change_to_an_imported_helper_is_picked_up() {
    let project = Project::with_files(&[
        (
            "functions/uses.ts",
            "import { value } from './_shared.ts'\nexport default () => value",
        ),
        ("functions/_shared.ts", "export const value = 'old'"),
    ]);
    let server = project.start();
    assert_eq!(server.get("/uses").json(), "old");
    project.write("functions/_shared.ts", "export const value = 'new'");
    // Helpers are not stat-checked per request; the file watcher reloads them.
    wait_for("the helper change", DEADLINE, || {
        (server.get("/uses").json() == "new").then_some(())
    });
}

#[test]
fn a_file_that_fails_to_parse_is_reported_and_the_others_keep_working() {
    let project = Project::with_files(&[("functions/good.ts", "export default () => 'good'")]);
    let server = project.start();
    project.write(
        "functions/broken.ts",
        "export default function () {\n  return { a: 1 +\n}\n",
    );
    let output = server.wait_for_output("functions/broken.ts:3:1");
    assert!(output.contains("✗ functions/broken.ts:3:1:"), "{output}");

    let reply = server.get("/broken");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    assert_eq!(record["error"]["name"], "SyntaxError");
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("broken.ts:3:1:"),
        "{record}"
    );
    assert_eq!(record["error"]["location"], "broken.ts:3");
    assert_eq!(server.get("/good").json(), "good");

    project.write("functions/broken.ts", "export default () => 'fixed'");
    assert_eq!(server.get("/broken").json(), "fixed");
}
