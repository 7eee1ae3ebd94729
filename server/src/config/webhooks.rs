//! `[[webhooks]]`: where events go, which ones, in which format, signed with which
//! secret. A secret is named (an environment variable or a file), never written inline.

use app::webhooks::{DEFAULT_EVENTS, Secret, Webhook, WebhookEvent, WebhookFormat};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Lowercase letters, digits and `-`.
    pub name: String,
    /// `http://` or `https://`.
    pub url: String,
    /// Default: every release and hold event.
    pub events: Option<Vec<String>>,
    /// `json` (default), `slack` or `ntfy`.
    pub format: Option<String>,
    /// The environment variable holding the signing secret.
    pub secret_env: Option<String>,
    /// Or the file holding it (its first line).
    pub secret_file: Option<PathBuf>,
    /// Seconds one try may take (default 10).
    pub timeout_seconds: Option<u64>,
}

impl WebhookConfig {
    pub(super) fn to_webhook(&self, index: usize) -> Result<Webhook, String> {
        let at =
            |key: &str| format!("key `{key}` of [[webhooks]] #{} ({:?})", index + 1, self.name);
        if !super::targets::url_name_ok(&self.name) {
            return Err(format!("{}: use 1 to 40 lowercase letters, digits and '-'", at("name")));
        }
        let host = self
            .url
            .strip_prefix("https://")
            .or_else(|| self.url.strip_prefix("http://"))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default())
            .filter(|host| !host.is_empty());
        if host.is_none() || self.url.chars().any(char::is_whitespace) {
            return Err(format!("{}: an http:// or https:// address with a host", at("url")));
        }
        let events = match &self.events {
            None => DEFAULT_EVENTS.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    name.parse::<WebhookEvent>().map_err(|err| format!("{}: {err}", at("events")))
                })
                .collect::<Result<_, _>>()?,
        };
        let format = match &self.format {
            None => WebhookFormat::Json,
            Some(raw) => raw.parse().map_err(|err| format!("{}: {err}", at("format")))?,
        };
        let secret = match (&self.secret_env, &self.secret_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{}: give secret_env or secret_file, not both",
                    at("secret_env")
                ));
            }
            (Some(variable), None) => {
                let value = std::env::var(variable).unwrap_or_default();
                if value.trim().is_empty() {
                    return Err(format!(
                        "{}: the environment variable {variable} is not set",
                        at("secret_env")
                    ));
                }
                Some(Secret::new(value.trim()))
            }
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .map_err(|err| format!("{}: {}: {err}", at("secret_file"), file.display()))?;
                let first = text.lines().next().unwrap_or_default().trim();
                if first.is_empty() {
                    return Err(format!("{}: {} is empty", at("secret_file"), file.display()));
                }
                Some(Secret::new(first))
            }
            (None, None) => None,
        };
        if secret.is_none() && format == WebhookFormat::Json {
            return Err(format!(
                "{}: a json webhook is signed; set secret_env or secret_file",
                at("secret_env")
            ));
        }
        super::in_range(&at("timeout_seconds"), self.timeout_seconds, 300)?;
        Ok(Webhook {
            name: self.name.clone(),
            url: self.url.clone(),
            events,
            secret,
            format,
            timeout: std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(10)),
        })
    }
}
