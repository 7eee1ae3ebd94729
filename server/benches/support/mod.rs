//! What the release benchmarks share.

use app::auth::caller::{Caller, Via};
use app::domain::{Credential, Operator, Role};

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
