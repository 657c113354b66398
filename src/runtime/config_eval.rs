//! Evaluates `flux.config.ts` in a throwaway engine and checks the result.

use std::path::Path;
use std::time::{Duration, Instant};

use rquickjs::{Context, Module, Object, Runtime};

use super::ts::strip_types;
use crate::project::{Config, ConfigError, CONFIG_FILE};

#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}")]
    Syntax(#[from] super::SyntaxError),
    #[error("{file}: {message}")]
    Evaluate { file: String, message: String },
    #[error("{0}")]
    Invalid(#[from] ConfigError),
}

/// Loads the project's config; a project without a config file gets the defaults.
pub fn load_config(path: &Path) -> Result<Config, ConfigLoadError> {
    let source = match std::fs::read_to_string(path) {
        Ok(source) => source,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(ConfigLoadError::Read(path.display().to_string(), e)),
    };
    let json = evaluate(&source)?;
    let value: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| ConfigLoadError::Evaluate {
            file: CONFIG_FILE.into(),
            message: format!("the default export is not plain data ({e})"),
        })?;
    Ok(Config::from_json(CONFIG_FILE, value)?)
}

fn evaluate(source: &str) -> Result<String, ConfigLoadError> {
    let code = strip_types(CONFIG_FILE, source)?;
    let fail = |message: String| ConfigLoadError::Evaluate {
        file: CONFIG_FILE.into(),
        message,
    };
    let runtime = Runtime::new().map_err(|e| fail(e.to_string()))?;
    runtime.set_memory_limit(64 * 1024 * 1024);
    let deadline = Instant::now() + Duration::from_secs(2);
    runtime.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let context = Context::full(&runtime).map_err(|e| fail(e.to_string()))?;
    context.with(|ctx| {
        let describe = |ctx: &rquickjs::Ctx<'_>, e: rquickjs::Error| -> String {
            let caught = ctx.catch();
            let message = caught
                .as_exception()
                .map(|ex| ex.message().unwrap_or_default())
                .or_else(|| caught.as_string().and_then(|s| s.to_string().ok()));
            message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| e.to_string())
        };
        let module =
            Module::declare(ctx.clone(), CONFIG_FILE, code).map_err(|e| fail(describe(&ctx, e)))?;
        let (module, promise) = module.eval().map_err(|e| fail(describe(&ctx, e)))?;
        promise
            .finish::<()>()
            .map_err(|e| fail(describe(&ctx, e)))?;
        let namespace: Object = module.namespace().map_err(|e| fail(describe(&ctx, e)))?;
        let default: rquickjs::Value = namespace
            .get("default")
            .map_err(|e| fail(describe(&ctx, e)))?;
        if default.is_undefined() {
            return Err(fail("expected `export default { … }`".into()));
        }
        // JSON would turn NaN and Infinity into null, i.e. "use the default": keep them as
        // text, which the config check then refuses under its key.
        let keep_non_finite: rquickjs::Value = ctx
            .eval("(key, value) => typeof value === 'number' && !Number.isFinite(value) ? String(value) : value")
            .map_err(|e| fail(describe(&ctx, e)))?;
        let json = ctx
            .json_stringify_replacer(default, keep_non_finite)
            .map_err(|e| fail(describe(&ctx, e)))?
            .map(|s| s.to_string())
            .transpose()
            .map_err(|e| fail(e.to_string()))?;
        Ok(json.unwrap_or_else(|| "null".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typescript_configs_evaluate_to_data() {
        let json = evaluate("const backoff: string = 'linear';\nexport default { workers: { w: { maxAttempts: 5, backoff } } }")
            .expect("evaluates");
        assert_eq!(
            json,
            r#"{"workers":{"w":{"maxAttempts":5,"backoff":"linear"}}}"#
        );
    }

    #[test]
    fn errors_name_the_file() {
        let error = evaluate("export default { a: missing }").expect_err("fails");
        assert!(error.to_string().starts_with("flux.config.ts:"), "{error}");
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
