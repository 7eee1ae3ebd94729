//! Demo mode: work items for a database that has none, so a newcomer sees a real board.
//! The items are work-item files (the factory repository's format) embedded in the binary.

use app::auth::secrets::{hash_password, random_secret};
use app::domain::{Role, Username};
use app::domain::{WorkItem, WorkItemFileError, parse_work_item_file};
use app::store::operators::{self, OperatorStoreError};
use app::store::{Db, StoreError, work_items};

macro_rules! demo_item {
    ($id:literal) => {
        (
            concat!($id, ".md"),
            include_str!(concat!("../demo/work-items/", $id, ".md")),
            None,
        )
    };
    ($id:literal, prompt) => {
        (
            concat!($id, ".md"),
            include_str!(concat!("../demo/work-items/", $id, ".md")),
            Some(include_str!(concat!(
                "../demo/work-items/prompts/",
                $id,
                ".prompt.md"
            ))),
        )
    };
}

/// (file name, file text, prompt text) for every demo item.
const DEMO_FILES: &[(&str, &str, Option<&str>)] = &[
    demo_item!("wi-BF-302", prompt),
    demo_item!("wi-BF-301", prompt),
    demo_item!("wi-BF-318", prompt),
    demo_item!("wi-BF-321", prompt),
    demo_item!("wi-BF-325", prompt),
    demo_item!("wi-BF-327", prompt),
    demo_item!("wi-BF-330", prompt),
    demo_item!("wi-BF-333", prompt),
    demo_item!("wi-BF-340"),
    demo_item!("wi-BF-342"),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo file {file}: {source}")]
    File {
        file: &'static str,
        source: WorkItemFileError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The demo items, parsed.
pub fn demo_items() -> Result<Vec<WorkItem>, DemoError> {
    DEMO_FILES
        .iter()
        .map(|(file, text, prompt)| {
            let prompt = prompt.map(|p| p.trim_end().to_owned());
            parse_work_item_file(text, prompt).map_err(|source| DemoError::File { file, source })
        })
        .collect()
}

/// Loads the demo items when the database holds no work item; returns how many it added.
pub async fn seed_if_empty(db: &Db) -> Result<usize, DemoError> {
    let items = demo_items()?;
    let added = db
        .call(move |conn| {
            if work_items::count(conn)? > 0 {
                return Ok(0);
            }
            for item in &items {
                work_items::upsert(conn, item)?;
            }
            Ok(items.len())
        })
        .await?;
    Ok(added)
}

/// The demo factory repository's validation script (a POSIX shell script under the name
/// the demo items' validation command uses).
const DEMO_VALIDATE_SCRIPT: &str = include_str!("../demo/factory/scripts/validate-local.ps1");

/// Where the demo factory repository is written, inside the data directory.
pub const DEMO_FACTORY_DIR: &str = "demo-factory";

/// Writes the demo factory repository (the work-item files, their prompts and the
/// validation script) into the data directory, replacing an older copy's files, and
/// returns its path. Prepare release runs the demo items' validation command there.
pub fn write_demo_factory(data_dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let root = data_dir.join(DEMO_FACTORY_DIR);
    let prompts = root.join("work-items/prompts");
    let scripts = root.join("scripts");
    std::fs::create_dir_all(&prompts)?;
    std::fs::create_dir_all(&scripts)?;
    for (file, text, prompt) in DEMO_FILES {
        std::fs::write(root.join("work-items").join(file), text)?;
        if let Some(prompt) = prompt {
            let id = file.trim_end_matches(".md");
            std::fs::write(prompts.join(format!("{id}.prompt.md")), prompt)?;
        }
    }
    let script = scripts.join("validate-local.ps1");
    std::fs::write(&script, DEMO_VALIDATE_SCRIPT)?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(root)
}

/// The demo's sign-in name.
pub const DEMO_USER: &str = "demo";

/// Creates the user `demo` (role operator) unless it exists. The password comes from
/// `password`, or is drawn at random and returned so the console can show it once.
pub async fn ensure_demo_user(
    db: &Db,
    password: Option<String>,
) -> Result<Option<String>, DemoError> {
    let name = Username::parse(DEMO_USER).expect("the demo username is valid");
    let lookup = name.clone();
    if db
        .call(move |conn| operators::user_by_name(conn, &lookup))
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(password) => (password, false),
        None => (random_secret(12), true),
    };
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&to_hash))
        .await
        .expect("hashing does not panic");
    db.call(move |conn| {
        match operators::add_user(conn, &name, &hash, Role::Operator) {
            // Another start created it meanwhile: keep theirs.
            Ok(_) | Err(OperatorStoreError::UsernameTaken(_)) => Ok(()),
            Err(OperatorStoreError::Store(err)) => Err(err),
        }
    })
    .await?;
    Ok(generated.then_some(password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::Lane;
    use std::collections::BTreeSet;

    #[test]
    fn demo_items_cover_every_lane_and_several_work_types() {
        let items = demo_items().unwrap();
        assert!(items.len() >= 9);
        let lanes: BTreeSet<Lane> = items.iter().map(|i| i.lifecycle.lane).collect();
        assert_eq!(lanes.len(), Lane::ALL.len());
        let types: BTreeSet<&str> = items
            .iter()
            .map(|i| i.lifecycle.work_type.as_str())
            .collect();
        assert!(types.len() >= 4, "{types:?}");
        for item in &items {
            let file_id = item.id.as_str();
            assert!(
                DEMO_FILES.iter().any(|(f, ..)| f.starts_with(file_id)),
                "file name matches id {file_id}"
            );
        }
    }
}
