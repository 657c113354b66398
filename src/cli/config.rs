//! `flux config get|set|unset|list`: user-level settings in `<config dir>/flux/config.toml`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{CliError, ConfigCommand, Format, GlobalArgs};
use crate::output::print_line;

/// Why the user's settings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum UserConfigError {
    #[error("{} is not valid: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("this system has no user config folder")]
    NoFolder,
    #[error(transparent)]
    Serialize(#[from] toml::ser::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    WritePrivate(#[from] crate::store::PrivateFileError),
}

impl From<UserConfigError> for CliError {
    fn from(error: UserConfigError) -> CliError {
        let hint = match &error {
            UserConfigError::Invalid { .. } => {
                Some("fix it, or remove it and use 'flux config set'")
            }
            _ => None,
        };
        let error = CliError::with_source(super::ErrorKind::Failure, error);
        match hint {
            Some(hint) => error.with_hint(hint),
            None => error,
        }
    }
}

/// What a user can set once for every project.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The server commands talk to when neither `--url`, `FLUX_URL` nor a project names one.
    pub url: Option<String>,
    /// The token sent to servers that need one.
    pub token: Option<String>,
}

pub const KEYS: [&str; 2] = ["url", "token"];

pub fn path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("flux").join("config.toml"))
}

impl UserConfig {
    /// The user's settings; a missing file is no settings, a broken one is an error.
    pub fn load() -> Result<UserConfig, UserConfigError> {
        let Some(path) = path() else {
            return Ok(UserConfig::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                toml::from_str(&text).map_err(|source| UserConfigError::Invalid { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
            Err(source) => Err(UserConfigError::Read { path, source }),
        }
    }

    fn save(&self) -> Result<PathBuf, UserConfigError> {
        let path = path().ok_or(UserConfigError::NoFolder)?;
        let text = toml::to_string(self)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| UserConfigError::Write {
                path: path.clone(),
                source,
            })?;
        }
        // It may hold the token: owner-only from its creation.
        crate::store::write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    fn get(&self, key: &str) -> Option<&String> {
        match key {
            "url" => self.url.as_ref(),
            "token" => self.token.as_ref(),
            _ => None,
        }
    }

    fn slot(&mut self, key: &str) -> &mut Option<String> {
        if key == "url" {
            &mut self.url
        } else {
            &mut self.token
        }
    }
}

/// A secret as it may be shown: enough to recognise it, not enough to use it.
pub fn mask(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}… ({} characters)", secret.chars().count())
}

fn shown(key: &str, value: &str) -> String {
    if key == "token" {
        mask(value)
    } else {
        value.to_string()
    }
}

fn check_key(key: &str) -> Result<(), CliError> {
    if KEYS.contains(&key) {
        Ok(())
    } else {
        Err(CliError::usage(format!("unknown setting '{key}'"))
            .with_hint(format!("settings: {}", KEYS.join(", "))))
    }
}

pub fn run(command: &ConfigCommand, global: &GlobalArgs) -> Result<(), CliError> {
    let mut config = UserConfig::load()?;
    match command {
        ConfigCommand::Get { key } => {
            check_key(key)?;
            match config.get(key) {
                Some(value) => Ok(print_line(&shown(key, value))?),
                None => Err(CliError::not_found(format!("{key} is not set"))
                    .with_hint(format!("flux config set {key} VALUE"))),
            }
        }
        ConfigCommand::Set { key, value } => {
            check_key(key)?;
            if key == "url" && !(value.starts_with("http://") || value.starts_with("https://")) {
                return Err(CliError::usage(format!("'{value}' is not an http(s) URL")));
            }
            *config.slot(key) = Some(value.clone());
            let path = config.save()?;
            eprintln!("set {key} = {} in {}", shown(key, value), path.display());
            Ok(())
        }
        ConfigCommand::Unset { key } => {
            check_key(key)?;
            *config.slot(key) = None;
            let path = config.save()?;
            eprintln!("unset {key} in {}", path.display());
            Ok(())
        }
        ConfigCommand::List => {
            let pairs: Vec<(&str, String)> = KEYS
                .iter()
                .filter_map(|key| config.get(key).map(|v| (*key, shown(key, v))))
                .collect();
            if global.format() == Format::Json {
                let object: serde_json::Map<String, serde_json::Value> = pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.into()))
                    .collect();
                return Ok(print_line(&serde_json::Value::Object(object).to_string())?);
            }
            if pairs.is_empty() {
                eprintln!(
                    "nothing is set ({})",
                    path().map_or_else(String::new, |p| p.display().to_string())
                );
            }
            for (key, value) in pairs {
                print_line(&format!("{key} = {value}"))?;
            }
            Ok(())
        }
    }
}
