//! Who is acting: password and token secrets, sign-in throttling.

pub mod secrets;
pub mod throttle;
