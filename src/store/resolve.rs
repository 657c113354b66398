//! What an id prefix names. Job ids and execution ids share one hex format, so the prefix a
//! user types may start either: a job id stands for its latest attempt, an execution id for
//! itself. One decision, here, for the server and for the CLI reading a stopped project's
//! store, so that `flux trace`, `flux why`, `flux state history --filter req=` and the API
//! agree on every prefix.

use super::JobRow;
use crate::record::{ExecId, ExecutionRecord, JobId};

/// How many matches of each kind a lookup reads: enough to tell one from several.
pub const MATCH_LIMIT: usize = 5;

/// An execution whose id starts with the prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecMatch {
    pub id: ExecId,
    pub function: String,
    /// The job it is an attempt of.
    pub job_id: Option<JobId>,
}

/// The executions and the jobs whose own ids start with a prefix, a few of each.
#[derive(Debug, Clone, Default)]
pub struct IdMatches {
    pub executions: Vec<ExecMatch>,
    pub jobs: Vec<JobRow>,
}

/// One of the things an ambiguous prefix matched, as errors list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    Job { id: JobId, name: String },
    Execution { id: ExecId, function: String },
}

impl Candidate {
    /// The full id.
    pub fn id(&self) -> String {
        match self {
            Candidate::Job { id, .. } => id.to_string(),
            Candidate::Execution { id, .. } => id.to_string(),
        }
    }

    /// `job 4d5e1baa7c3f… (send_welcome_email)`, showing `shown` characters of the id.
    fn describe(&self, shown: usize) -> String {
        let (what, name) = match self {
            Candidate::Job { name, .. } => ("job", name),
            Candidate::Execution { function, .. } => ("execution", function),
        };
        let id = self.id();
        format!("{what} {}… ({name})", &id[..shown.min(id.len())])
    }
}

/// What a prefix names.
#[derive(Debug)]
pub enum Named {
    Execution(ExecId),
    /// A job, by its own id: it stands for its latest attempt.
    Job(Box<JobRow>),
    NotFound,
    /// Several unrelated executions or jobs.
    Ambiguous(Vec<Candidate>),
}

/// The record a prefix names ([`super::Storage::find_named_record`]).
#[derive(Debug)]
pub enum NamedRecord {
    Found(Box<ExecutionRecord>),
    /// Nothing has that id, or it names a job with no recorded attempt (that job).
    NotFound(Option<Box<JobRow>>),
    Ambiguous(Vec<Candidate>),
}

/// What a read scoped by an id prefix found, unless the prefix was ambiguous.
#[derive(Debug)]
pub enum Scoped<T> {
    Found(T),
    Ambiguous(Vec<Candidate>),
}

/// Decides what the matches of one prefix name. An execution wins only when nothing else
/// matched; a job wins over its own attempts (the same job, whichever id the user meant);
/// anything more is ambiguous.
pub fn decide(matches: IdMatches) -> Named {
    let mut candidates: Vec<Candidate> = matches
        .jobs
        .iter()
        .map(|job| Candidate::Job {
            id: job.id.clone(),
            name: job.name.clone(),
        })
        .collect();
    candidates.extend(
        matches
            .executions
            .iter()
            .filter(|e| {
                e.job_id
                    .as_ref()
                    .is_none_or(|job| !matches.jobs.iter().any(|j| &j.id == job))
            })
            .map(|e| Candidate::Execution {
                id: e.id,
                function: e.function.clone(),
            }),
    );
    match candidates.len() {
        0 => Named::NotFound,
        1 => match candidates.remove(0) {
            Candidate::Execution { id, .. } => Named::Execution(id),
            Candidate::Job { .. } => match matches.jobs.into_iter().next() {
                Some(job) => Named::Job(Box::new(job)),
                None => Named::NotFound,
            },
        },
        _ => Named::Ambiguous(candidates),
    }
}

/// `4d5e is ambiguous: it starts job 4d5e1baa… (send_welcome_email), execution 4d5e07c2…
/// (create_user) — give more characters`.
pub fn ambiguous_message(prefix: &str, candidates: &[Candidate]) -> String {
    // Enough characters to tell the candidates apart at a glance.
    let shown = (prefix.len() + 4).max(crate::record::SHORT_LEN);
    let list: Vec<String> = candidates.iter().map(|c| c.describe(shown)).collect();
    format!(
        "{prefix} is ambiguous: it starts {} — give more characters",
        list.join(", ")
    )
}

/// Why a prefix gave no record: nothing has that id, or it names a job with no recorded
/// attempt.
pub fn not_found_message(prefix: &str, job: Option<&JobRow>) -> String {
    match job {
        None => format!("no execution or job has an id starting with {prefix}"),
        Some(job) => match &job.last_record {
            None => format!(
                "job {} ({}) has not run yet: it is {}",
                job.id.short(),
                job.name,
                job.state.as_str()
            ),
            Some(latest) => format!(
                "job {} ({}): its latest attempt req:{} is no longer recorded",
                job.id.short(),
                job.name,
                &latest[..latest.len().min(crate::record::SHORT_LEN)]
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::JobState;
    use serde_json::Value;

    fn job(id: &str, name: &str) -> JobRow {
        JobRow {
            id: id.parse().expect("job id"),
            name: name.into(),
            data: Value::Null,
            state: JobState::Done,
            run_at_us: 0,
            attempts: 1,
            max_attempts: 3,
            enqueued_at_us: 0,
            enqueued_by: None,
            next_exec_id: String::new(),
            last_record: None,
            last_error: None,
            replays: 0,
            updated_at_us: 0,
            data_edited: false,
        }
    }

    fn exec(id: &str, function: &str, job_id: Option<&str>) -> ExecMatch {
        ExecMatch {
            id: id.parse().expect("exec id"),
            function: function.into(),
            job_id: job_id.map(|j| j.parse().expect("job id")),
        }
    }

    const JOB: &str = "4d5e1baa000000000000000000000001";
    const ATTEMPT: &str = "4d5e1bab000000000000000000000002";
    const OTHER: &str = "4d5e07c2000000000000000000000003";

    #[test]
    fn a_lone_execution_or_a_lone_job_is_what_the_prefix_names() {
        let alone = decide(IdMatches {
            executions: vec![exec(OTHER, "create_user", None)],
            jobs: vec![],
        });
        assert!(matches!(alone, Named::Execution(id) if id.to_string() == OTHER));
        let job_alone = decide(IdMatches {
            executions: vec![],
            jobs: vec![job(JOB, "send_welcome_email")],
        });
        assert!(matches!(job_alone, Named::Job(j) if j.id.to_string() == JOB));
        assert!(matches!(decide(IdMatches::default()), Named::NotFound));
    }

    #[test]
    fn a_job_and_its_own_attempt_are_the_same_job() {
        let named = decide(IdMatches {
            executions: vec![exec(ATTEMPT, "send_welcome_email", Some(JOB))],
            jobs: vec![job(JOB, "send_welcome_email")],
        });
        assert!(matches!(named, Named::Job(j) if j.id.to_string() == JOB));
    }

    #[test]
    fn a_job_and_an_unrelated_execution_are_ambiguous_and_listed_as_such() {
        let named = decide(IdMatches {
            executions: vec![
                exec(ATTEMPT, "send_welcome_email", Some(JOB)),
                exec(OTHER, "create_user", None),
            ],
            jobs: vec![job(JOB, "send_welcome_email")],
        });
        let Named::Ambiguous(candidates) = named else {
            panic!("expected ambiguous, got {named:?}");
        };
        assert_eq!(
            ambiguous_message("4d5e", &candidates),
            "4d5e is ambiguous: it starts job 4d5e1baa… (send_welcome_email), \
             execution 4d5e07c2… (create_user) — give more characters"
        );
        // A longer prefix shows more of each id.
        assert!(ambiguous_message("4d5e1ba", &candidates).contains("job 4d5e1baa000… "));
    }

    #[test]
    fn two_attempts_of_a_job_named_by_neither_are_two_executions() {
        let named = decide(IdMatches {
            executions: vec![
                exec(ATTEMPT, "send_welcome_email", Some(JOB)),
                exec(OTHER, "send_welcome_email", Some(JOB)),
            ],
            jobs: vec![],
        });
        assert!(matches!(named, Named::Ambiguous(c) if c.len() == 2));
    }

    #[test]
    fn a_job_without_a_record_says_why() {
        let mut pending = job(JOB, "send_welcome_email");
        pending.state = JobState::Pending;
        assert_eq!(
            not_found_message("4d5e", Some(&pending)),
            "job 4d5e1baa (send_welcome_email) has not run yet: it is pending"
        );
        assert_eq!(
            not_found_message("ffff", None),
            "no execution or job has an id starting with ffff"
        );
    }
}
