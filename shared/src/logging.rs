//! The functions' log lines: to standard output, as JSON when Lambda's advanced logging controls
//! ask for it (`AWS_LAMBDA_LOG_FORMAT=JSON`, as `infra/template.yaml` sets), at the level
//! `AWS_LAMBDA_LOG_LEVEL` names (else `RUST_LOG`, else `INFO`).
//!
//! The same contract as `lambda_runtime`'s default subscriber, with one difference: the level is
//! one level for every module (`DEBUG`, `info`, …), not a list of per-module directives. That
//! filter compiles a regular-expression engine into every function (with it, about 140 KB of
//! each zip, `docs/performance.md`), and the template only ever sets a level.

use tracing_subscriber::filter::LevelFilter;

/// What the environment asks for, and whether a value was given that is not a level (it then
/// logs at `INFO` and says so once the subscriber is installed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevel {
    pub level: LevelFilter,
    pub understood: bool,
}

/// The level from `AWS_LAMBDA_LOG_LEVEL`, which takes precedence, or `RUST_LOG`.
#[must_use]
pub fn level_from(lambda_level: Option<&str>, rust_log: Option<&str>) -> LogLevel {
    match lambda_level.or(rust_log).map(str::trim) {
        None | Some("") => LogLevel {
            level: LevelFilter::INFO,
            understood: true,
        },
        Some(value) => match value.parse::<LevelFilter>() {
            Ok(level) => LogLevel {
                level,
                understood: true,
            },
            Err(_) => LogLevel {
                level: LevelFilter::INFO,
                understood: false,
            },
        },
    }
}

/// Installs the subscriber; call once, first thing in `main`.
pub fn init() {
    let env = |name| std::env::var(name).ok();
    let chosen = level_from(
        env("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        env("RUST_LOG").as_deref(),
    );
    let json = env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_max_level(chosen.level);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    if !chosen.understood {
        tracing::warn!(
            "the log level in AWS_LAMBDA_LOG_LEVEL or RUST_LOG is not a level; logging at INFO"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_level_wins_over_rust_log_and_info_is_the_default() {
        assert_eq!(
            level_from(Some("DEBUG"), Some("error")).level,
            LevelFilter::DEBUG
        );
        assert_eq!(level_from(None, Some("warn")).level, LevelFilter::WARN);
        assert_eq!(
            level_from(None, None),
            LogLevel {
                level: LevelFilter::INFO,
                understood: true
            }
        );
        assert_eq!(level_from(Some(" "), None).level, LevelFilter::INFO);
    }

    #[test]
    fn a_directive_list_is_not_a_level_and_falls_back_to_info_saying_so() {
        let chosen = level_from(None, Some("info,shared=debug"));
        assert_eq!(
            chosen,
            LogLevel {
                level: LevelFilter::INFO,
                understood: false
            }
        );
    }
}
