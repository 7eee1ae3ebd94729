//! Every image and relative link in the README and `docs/` points at a file in the
//! repository: the README's screenshots were once ignored by git and broken on every
//! fresh clone.

use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/ is readable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The targets of `[text](target)`, `![alt](target)` and `src="target"` / `href="target"`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].split_whitespace().next().unwrap_or("").to_owned());
        }
    }
    for attribute in ["src=\"", "href=\""] {
        let mut rest = text;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            if let Some(end) = rest.find('"') {
                targets.push(rest[..end].to_owned());
            }
        }
    }
    targets
}

fn is_relative_file_link(target: &str) -> bool {
    !(target.is_empty()
        || target.starts_with('#')
        || target.contains("://")
        || target.starts_with("mailto:")
        // An address of the running dashboard, such as `/api/openapi.json`.
        || target.starts_with('/'))
}

#[test]
fn every_image_and_relative_link_in_the_docs_points_at_a_file_in_the_repository() {
    let root = repository();
    let files = markdown_files(&root);
    assert!(files.len() > 5, "{files:?}");
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable markdown");
        for target in link_targets(&text) {
            if !is_relative_file_link(&target) {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let resolved = file.parent().unwrap().join(path);
            checked += 1;
            let inside = resolved.canonicalize().is_ok_and(|real| real.starts_with(&root));
            if !inside {
                broken.push(format!("{}: {target}", file.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(checked > 20, "only {checked} links found");
    assert_eq!(broken, Vec::<String>::new(), "links to no file of the repository");
}

#[test]
fn the_readme_images_are_committed_not_ignored() {
    let root = repository();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let images: Vec<String> =
        link_targets(&readme).into_iter().filter(|target| target.ends_with(".png")).collect();
    assert!(images.len() >= 2, "{images:?}");
    // `git check-ignore` exits 0 for an ignored path: a fresh clone would not have it.
    for image in images {
        let ignored = std::process::Command::new("git")
            .args(["check-ignore", "--quiet", &image])
            .current_dir(&root)
            .status();
        if let Ok(status) = ignored {
            assert!(!status.success(), "{image} is ignored by git");
        }
    }
}
