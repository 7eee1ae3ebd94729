//! The orchestrator examples of docs/releases.md, loaded from the document and run:
//! stand-ins for `kamal`, `ansible-playbook` and `kubectl` record how they were called
//! and switch a real HTTP service between versions, so each example's deploy, failed
//! deploy and automatic rollback run through the real pipeline.

mod common;

use app::targets::SmokeProbe;
use common::Setup;
use common::release_host::serve_current;
use server::config::Config;
use std::os::unix::fs::PermissionsExt;

/// Finds the version in its arguments (`--version V`, `rollback V`, `app_version=V`,
/// `…/web:V`), fails when `fail-V` exists, and otherwise serves V.
const STAND_IN: &str = r#"#!/bin/sh
echo "$(basename "$0") $*" >> calls.log
v=""
previous=""
for arg in "$@"; do
  case "$previous" in --version|rollback) v="$arg" ;; esac
  case "$arg" in app_version=*) v="${arg#app_version=}" ;; *web:*) v="${arg##*:}" ;; esac
  previous="$arg"
done
[ -n "$v" ] || exit 0
if [ -e "fail-$v" ]; then echo "$(basename "$0"): $v never became healthy"; exit 1; fi
mkdir -p "releases/$v" && echo "ok $v" > "releases/$v/healthz" && ln -sfn "releases/$v" current
echo "$(basename "$0"): $v is out"
"#;

const TOOLS: [&str; 3] = ["kamal", "ansible-playbook", "kubectl"];

fn examples() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/releases.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = &text[text.find("### Targets an orchestrator rolls out").expect("the section")..];
    // Up to the next section of the page.
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```toml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_orchestrator_example_deploys_fails_and_rolls_back() {
    let examples = examples();
    assert_eq!(examples.len(), 3, "Kamal, Ansible and Kubernetes");
    for example in examples {
        let config = Config::parse(&example).unwrap_or_else(|err| panic!("{err}\n{example}"));
        let mut target = config.targets().unwrap().remove(0);
        assert!(target.hosts.is_empty(), "the orchestrator rolls, not the dashboard");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        for tool in TOOLS {
            let path = dir.path().join("bin").join(tool);
            std::fs::write(&path, STAND_IN).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // The stand-ins instead of the real tools; the service instead of the fleet's.
        target.working_dir = dir.path().to_owned();
        for argv in [&mut target.deploy, &mut target.rollback] {
            for word in argv.iter_mut() {
                for tool in TOOLS {
                    *word = word.replace(&format!("{tool} "), &format!("./bin/{tool} "));
                }
            }
        }
        let service = serve_current(dir.path().to_owned()).await;
        for check in &mut target.smoke {
            if let SmokeProbe::Http { url, .. } = &mut check.probe {
                *url = format!("{service}/healthz");
            }
        }
        let name = target.name.clone();
        let app = Setup::default().with(|s| s.targets = vec![target]).spawn().await;
        let first = app.deployed(&name, "1.0.0").await;
        assert_eq!(first["release"]["status"], "succeeded", "{name}: {first}");

        std::fs::write(dir.path().join("fail-2.0.0"), "").unwrap();
        let failed = app.deployed(&name, "2.0.0").await;
        let auto = app.its_rollback(&failed).await;
        assert_eq!(auto["release"]["status"], "succeeded", "{name}: {auto}");
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        let calls: Vec<&str> = calls.lines().collect();
        let expected: &[&str] = match name.as_str() {
            "shop" => &[
                "kamal deploy --version 1.0.0",
                "kamal deploy --version 2.0.0",
                "kamal rollback 1.0.0",
            ],
            "api" => &[
                "ansible-playbook deploy.yml --limit api -e app_version=1.0.0",
                "ansible-playbook deploy.yml --limit api -e app_version=2.0.0",
                "ansible-playbook deploy.yml --limit api -e app_version=1.0.0",
            ],
            "web" => &[
                "kubectl set image deployment/web web=registry.example.com/web:1.0.0",
                "kubectl rollout status deployment/web --timeout=600s",
                "kubectl set image deployment/web web=registry.example.com/web:2.0.0",
                "kubectl set image deployment/web web=registry.example.com/web:1.0.0",
                "kubectl rollout status deployment/web --timeout=600s",
            ],
            other => panic!("an example nobody expected: {other}"),
        };
        assert_eq!(calls, expected, "{name}");
        let serving =
            reqwest::get(format!("{service}/healthz")).await.unwrap().text().await.unwrap();
        assert_eq!(serving.trim(), "ok 1.0.0", "{name}");
    }
}
