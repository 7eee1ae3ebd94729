use crate::store::Db;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

/// What every request handler and page needs; provided to pages as Leptos context and to
/// axum handlers as router state.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
