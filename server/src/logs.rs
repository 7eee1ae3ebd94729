//! Log lines for the journal: under systemd, standard error goes to journald, which
//! reads a `<N>` syslog priority at the start of a line (`SyslogLevelPrefix=`, on by
//! default). Without it every line is "info", and `journalctl -p warning` finds nothing.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether standard error is the journal's stream: systemd names it in
/// `JOURNAL_STREAM=DEVICE:INODE`, which a redirected stderr no longer matches.
pub fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::MetadataExt;
    // SAFETY: descriptor 2 is open for the process's life; ManuallyDrop never closes it.
    let stderr = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(2) });
    stderr.metadata().is_ok_and(|meta| {
        device.parse::<u64>().ok() == Some(meta.dev())
            && inode.parse::<u64>().ok() == Some(meta.ino())
    })
}

/// The syslog priority of a level: err, warning, info, debug.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// An event format that starts each line with its journal priority, when writing to
/// the journal.
pub struct JournalPriority<F> {
    inner: F,
    journal: bool,
}

impl<F> JournalPriority<F> {
    pub fn new(inner: F, journal: bool) -> Self {
        JournalPriority { inner, journal }
    }
}

impl<S, N, F> FormatEvent<S, N> for JournalPriority<F>
where
    F: FormatEvent<S, N>,
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.journal {
            write!(writer, "<{}>", priority(*event.metadata().level()))?;
        }
        self.inner.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_syslog_priorities() {
        let cases = [
            (Level::ERROR, 3),
            (Level::WARN, 4),
            (Level::INFO, 6),
            (Level::DEBUG, 7),
            (Level::TRACE, 7),
        ];
        for (level, expected) in cases {
            assert_eq!(priority(level), expected, "{level}");
        }
    }
}
