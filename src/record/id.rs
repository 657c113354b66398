use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A random 128-bit execution id, written as 32 lowercase hex characters and shown by its
/// first 8.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecId(u128);

/// How many hex characters the CLI shows.
pub const SHORT_LEN: usize = 8;
/// The shortest prefix accepted on the command line.
pub const MIN_PREFIX_LEN: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("'{0}' is not an execution id: ids are hexadecimal (0-9, a-f)")]
    NotHex(String),
    #[error("'{0}' is too short: give at least {MIN_PREFIX_LEN} characters of the id")]
    TooShort(String),
    #[error("'{0}' is too long for an execution id (32 hex characters at most)")]
    TooLong(String),
}

impl ExecId {
    pub fn random() -> ExecId {
        ExecId(rand::random())
    }

    /// The id's first 63 bits, order-preserving: the store indexes this small integer instead
    /// of the 32-character text, which keeps the index (and every insert into it) small.
    pub fn hi(&self) -> i64 {
        (self.0 >> 65) as i64
    }

    /// The range of [`ExecId::hi`] values that ids starting with `prefix` (valid lowercase hex)
    /// fall in, bounds included.
    pub fn hi_range(prefix: &str) -> (i64, i64) {
        let head = &prefix[..prefix.len().min(16)];
        let low = u64::from_str_radix(&format!("{head:0<16}"), 16).unwrap_or(0);
        let high = u64::from_str_radix(&format!("{head:f<16}"), 16).unwrap_or(u64::MAX);
        ((low >> 1) as i64, (high >> 1) as i64)
    }

    /// Validates a user-given prefix and returns it lowercased.
    pub fn parse_prefix(text: &str) -> Result<String, IdError> {
        let text = text.trim().trim_start_matches("req:").to_ascii_lowercase();
        if !text.chars().all(|c| c.is_ascii_hexdigit()) || text.is_empty() {
            return Err(IdError::NotHex(text));
        }
        if text.len() < MIN_PREFIX_LEN {
            return Err(IdError::TooShort(text));
        }
        if text.len() > 32 {
            return Err(IdError::TooLong(text));
        }
        Ok(text)
    }
}

/// A random 128-bit job id, written and shown as an [`ExecId`] is: a job and its attempts'
/// executions are found by the same prefixes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u128);

impl JobId {
    pub fn random() -> JobId {
        JobId(rand::random())
    }
}

/// The first [`SHORT_LEN`] characters of an id held as text (a change's `record_id`, an
/// email's sender): how the CLI shows it, like [`ExecId::short`].
pub fn short_text(id: &str) -> &str {
    id.get(..SHORT_LEN).unwrap_or(id)
}

/// Text forms shared by both ids: 32 lowercase hex characters, as JSON strings too.
macro_rules! hex_text {
    ($id:ident) => {
        impl $id {
            /// The first `SHORT_LEN` characters: how the CLI shows the id.
            pub fn short(&self) -> String {
                let mut full = self.to_string();
                full.truncate(SHORT_LEN);
                full
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl fmt::Debug for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($id))
            }
        }

        impl FromStr for $id {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 32 {
                    return Err(IdError::NotHex(s.to_string()));
                }
                u128::from_str_radix(s, 16)
                    .map($id)
                    .map_err(|_| IdError::NotHex(s.to_string()))
            }
        }

        impl Serialize for $id {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $id {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_text!(ExecId);
hex_text!(JobId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = ExecId::random();
        assert_eq!(id.to_string().parse::<ExecId>(), Ok(id));
        assert_eq!(id.short().len(), SHORT_LEN);
    }

    #[test]
    fn a_job_id_round_trips_and_is_shown_short() {
        let id = JobId::random();
        assert_eq!(id.to_string().parse::<JobId>(), Ok(id.clone()));
        assert_eq!(id.short(), id.to_string()[..SHORT_LEN]);
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(
            serde_json::from_str::<JobId>(&json).expect("deserialize"),
            id
        );
        assert!(serde_json::from_str::<JobId>("\"d5e6\"").is_err());
    }

    #[test]
    fn prefix_ranges_hold_exactly_the_ids_with_that_prefix() {
        let id: ExecId = "d5e6f7a8000000000000000000000001".parse().expect("id");
        let (low, high) = ExecId::hi_range("d5e6");
        assert!(low <= id.hi() && id.hi() <= high);
        let (low, high) = ExecId::hi_range("d5e7");
        assert!(id.hi() < low && low <= high);
        let (low, high) = ExecId::hi_range(&id.to_string());
        assert!(low <= id.hi() && id.hi() <= high);
    }

    #[test]
    fn prefixes_are_validated() {
        assert_eq!(ExecId::parse_prefix("req:D5E6"), Ok("d5e6".to_string()));
        assert_eq!(
            ExecId::parse_prefix("d5e"),
            Err(IdError::TooShort("d5e".into()))
        );
        assert!(matches!(
            ExecId::parse_prefix("zz99"),
            Err(IdError::NotHex(_))
        ));
    }
}
