//! Module forms: `import data from './data.json'` (a JSON file is a module whose default export is
//! its value), and NodeNext-style `./x.js` naming `x.ts`.

use std::time::Duration;

use crate::support::{wait_for, Project};

#[test]
fn a_json_file_is_imported_as_its_value_and_reloaded_when_it_changes() {
    let project = Project::with_files(&[
        (
            "functions/data/plans.json",
            "\u{feff}{ \"pro\": { \"price\": 42 }, \"__proto__\": { \"polluted\": true } }",
        ),
        (
            "functions/price.ts",
            "import plans from './data/plans.json'\n\
             import again from './data/plans.json' with { type: 'json' }\n\
             export default () => ({\n\
               price: plans.pro.price,\n\
               withType: again.pro.price,\n\
               // JSON.parse semantics: `__proto__` is a key, not the prototype.\n\
               ownProto: Object.keys(plans).includes('__proto__'),\n\
               polluted: ({}).polluted === true || plans.polluted === true,\n\
             })",
        ),
        ("functions/data/bad.json", "{\n  \"a\": 1,\n}\n"),
        (
            "functions/broken.ts",
            "import bad from './data/bad.json'\nexport default () => bad",
        ),
    ]);
    let server = project.start();
    let reply = server.get("/price");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({"price": 42, "withType": 42, "ownProto": true, "polluted": false})
    );
    // The data files are not routes.
    assert_eq!(server.get("/data/plans").status, 404);

    // A broken file is named with its line and column.
    let reply = server.get("/broken");
    assert_eq!(reply.status, 500);
    let record = server.record(&reply.request_id());
    let message = record["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        message.contains("data/bad.json:3:1: not valid JSON: key must be a string"),
        "{message}"
    );

    // Editing the JSON reloads the functions that import it.
    project.write(
        "functions/data/plans.json",
        "{ \"pro\": { \"price\": 50 } }",
    );
    wait_for("the new price", Duration::from_secs(20), || {
        let reply = server.get("/price");
        (reply.status == 200 && reply.json()["price"] == 50).then_some(())
    });
}

#[test]
fn a_js_extension_names_the_ts_file_as_typescript_nodenext_writes_it() {
    let project = Project::with_files(&[
        (
            "functions/lib/mail.ts",
            "export const subject = (n: string): string => `Hi ${n}`",
        ),
        (
            "functions/greet.ts",
            "import { subject } from './lib/mail.js'\nexport default () => subject('Ada')",
        ),
    ]);
    let server = project.start();
    let reply = server.get("/greet");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), "Hi Ada");
}
