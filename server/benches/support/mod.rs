//! What the release benchmarks share.

use app::auth::caller::{Caller, Via};
use app::domain::{Credential, Operator, Role};

/// A target whose deploy, rollback and smoke check (`when`) do nothing (`true`), each
/// step allowed `step_timeout`: what is measured is the pipeline around them.
pub fn noop_target(
    name: &str,
    dir: &std::path::Path,
    when: app::targets::SmokeWhen,
    step_timeout: std::time::Duration,
) -> app::targets::Target {
    let noop = vec!["true".to_owned()];
    app::targets::Target {
        smoke: vec![app::targets::SmokeCheck {
            name: "noop".into(),
            when,
            probe: app::targets::SmokeProbe::Command(noop.clone()),
            timeout: step_timeout,
            retries: 0,
            interval: std::time::Duration::ZERO,
        }],
        step_timeout,
        ..app::targets::Target::new(name, dir, noop.clone(), noop)
    }
}

/// The operator a benchmark's releases are started by.
pub fn bench_caller() -> Caller {
    Caller {
        operator: Operator {
            name: "bench".into(),
            role: Role::Operator,
            credential: Credential::Session { user_id: 1 },
        },
        via: Via::Api,
        once_key: None,
        client: "bench".into(),
    }
}
