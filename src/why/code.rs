//! Failures of the project's code itself, before or beside any data: an import of a module or
//! a name that is not there, and a thrown value that is not an `Error`.

use super::{Finding, Related};
use crate::record::ExecutionRecord;

/// The glue's message for a thrown value that is not an `Error`.
const NON_ERROR: &str = "a non-Error value was thrown: ";

/// A name imported from a module that does not export it: the loader's message, as QuickJS
/// words it, followed by what the module does export, closest name first.
pub(super) fn missing_export(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    let error = record.error.as_ref()?;
    let pattern = regex::Regex::new(
        r"^Could not find export '([^']*)' in module '([^']*)'(?:; it exports (nothing|.+))?$",
    )
    .ok()?;
    let captures = pattern.captures(&error.message)?;
    let (export, module) = (&captures[1], &captures[2]);
    // `None`: a record from before the loader listed them.
    let exports: Option<Vec<&str>> = captures.get(3).map(|list| match list.as_str() {
        "nothing" => Vec::new(),
        list => list.split(", ").collect(),
    });
    let suggestion = match (export, exports.as_deref()) {
        ("default", Some([])) => format!("→ {module} exports nothing: add an export default to it"),
        ("default", Some(names)) => format!(
            "→ {module} has only named exports ({}): import them by name, import {{ {} }} from …, or add an export default to it",
            names.join(", "),
            names[0]
        ),
        ("default", None) => format!("→ Import the names {module} exports by name, or add an export default to it"),
        (_, Some([])) => format!("→ {module} exports nothing: export {export} from it"),
        (_, Some(names)) if strsim::jaro_winkler(export, names[0]) >= 0.8 => format!(
            "→ Did you mean {}? {module} exports {}",
            names[0],
            names.join(", ")
        ),
        (_, Some(names)) => format!(
            "→ {module} exports {}: import one of them, or export {export} from it",
            names.join(", ")
        ),
        (_, None) => format!("→ Export {export} from {module}, or import a name it does export"),
    };
    let what = if export == "default" {
        "no default export".to_string()
    } else {
        format!("no export '{export}'")
    };
    Some(Finding {
        cause: "missing-export",
        root_cause: format!("Missing export: {module} has {what}"),
        location: error.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: Some(suggestion),
    })
}

/// An import of a file that is not in the project (or may not be imported): the loader's
/// `cannot import '<name>' from <module>: <why>`.
pub(super) fn missing_module(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    let error = record.error.as_ref()?;
    let pattern = regex::Regex::new(
        r"^cannot import '(.*)' from (\S+): (.+?)(?: \(did you mean '(.*)'\?\))?$",
    )
    .ok()?;
    let captures = pattern.captures(&error.message)?;
    let (name, importer, why) = (&captures[1], &captures[2], &captures[3]);
    let suggestion = if let Some(closest) = captures.get(4) {
        Some(format!(
            "→ Did you mean '{}'? The path is relative to {importer}'s folder",
            closest.as_str()
        ))
    } else if why.starts_with("no such file") {
        Some(format!("→ Check the path: it is relative to {importer}'s folder, and flux looks for it with .ts, .js, .mjs and .mts, then for an index file in it"))
    } else if why.starts_with("only relative imports") {
        Some("→ Only the project's own files can be imported, by a relative path ('./lib/x.ts'): packages are not loaded".into())
    } else if why.starts_with("it is outside") {
        Some("→ Move the file into the project (functions/ or a folder beside it) and import it from there".into())
    } else {
        None
    };
    Some(Finding {
        cause: "missing-module",
        root_cause: format!("Missing module: '{name}' imported by {importer}: {why}"),
        location: error.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion,
    })
}

/// `throw 'nope'`, `throw { code: 1 }`: no message of its own, and no stack.
pub(super) fn non_error_thrown(record: &ExecutionRecord, _: &Related) -> Option<Finding> {
    let error = record.error.as_ref()?;
    let shown = error.message.strip_prefix(NON_ERROR)?;
    let instead = if shown.starts_with('\'') {
        format!("throw new Error({shown})")
    } else if shown.starts_with('{') {
        // The value as JSON is an object literal: its fields become the Error's.
        format!("throw Object.assign(new Error('…'), {shown})")
    } else {
        "throw new Error('…')".into()
    };
    Some(Finding {
        cause: "non-error-thrown",
        root_cause: format!("A value that is not an Error was thrown: {shown}"),
        location: error.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: Some(format!(
            "→ Throw an Error instead ({instead}): an Error has a message and a stack, which tell where it was thrown and through which calls"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{sample, ErrorInfo, Kind, Status};

    fn failed(name: &str, message: &str) -> ExecutionRecord {
        ExecutionRecord {
            error: Some(ErrorInfo {
                name: name.into(),
                message: message.into(),
                stack: None,
                location: Some("f.ts:1".into()),
                frames: Vec::new(),
                source: Vec::new(),
            }),
            ..sample(Kind::Http, "f", Status::Error)
        }
    }

    fn suggestion(finding: Option<Finding>) -> String {
        finding
            .and_then(|f| f.suggestion)
            .expect("a finding with a suggestion")
    }

    #[test]
    fn a_missing_export_names_the_closest_export_when_it_is_close() {
        let related = Related::default();
        let typo = failed(
            "SyntaxError",
            "Could not find export 'formatNam' in module '_lib.ts'; it exports formatName, parse",
        );
        assert_eq!(
            suggestion(missing_export(&typo, &related)),
            "→ Did you mean formatName? _lib.ts exports formatName, parse"
        );
        let far = failed(
            "SyntaxError",
            "Could not find export 'send' in module '_lib.ts'; it exports parse",
        );
        assert_eq!(
            suggestion(missing_export(&far, &related)),
            "→ _lib.ts exports parse: import one of them, or export send from it"
        );
        // Before the loader listed the exports: QuickJS's words alone.
        let old = failed(
            "SyntaxError",
            "Could not find export 'default' in module '_lib.ts'",
        );
        let finding = missing_export(&old, &related).expect("a finding");
        assert_eq!(
            finding.root_cause,
            "Missing export: _lib.ts has no default export"
        );
    }

    #[test]
    fn a_missing_module_close_to_a_file_names_it() {
        let typo = failed(
            "TypeError",
            "cannot import './_lib/mial' from f.ts: no such file in the project (did you mean './_lib/mail'?)",
        );
        let finding = missing_module(&typo, &Related::default()).expect("a finding");
        assert_eq!(
            finding.root_cause,
            "Missing module: './_lib/mial' imported by f.ts: no such file in the project"
        );
        assert_eq!(
            finding.suggestion.as_deref(),
            Some("→ Did you mean './_lib/mail'? The path is relative to f.ts's folder")
        );
    }

    #[test]
    fn other_messages_are_not_import_failures() {
        let related = Related::default();
        let plain = failed("Error", "cannot import the CSV: bad header");
        assert_eq!(missing_module(&plain, &related), None);
        assert_eq!(missing_export(&plain, &related), None);
        assert_eq!(non_error_thrown(&plain, &related), None);
    }
}
