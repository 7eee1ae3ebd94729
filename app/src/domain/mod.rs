//! Plain-Rust domain types, apart from HTTP, HTML and storage.

pub mod work_item;
pub mod work_item_file;

pub use work_item::{
    ExecutionContext, Lane, LifecycleMetadata, PromptContext, WorkItem, WorkItemError, WorkItemId,
    WorkItemSummary,
};
pub use work_item_file::{WorkItemFileError, parse_work_item_file};
