//! Packaging: the systemd unit, the Kubernetes manifests, the Dockerfile and docker-compose.yml
//! name the real binary's commands and settings (no container engine runs here: their command
//! lines are run directly), the YAML parses, and LICENSE is Cargo.toml's license.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::collections::BTreeSet;

use latch_testkit::LatchServer;
use serde::Deserialize;
use serde_yaml_ng::Value;
use support::bin;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The settings the README documents (its table is checked against the code).
fn settings() -> BTreeSet<String> {
    read("README.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `LATCH_"))
        .filter_map(|l| l.split('`').next())
        .map(|name| format!("LATCH_{name}"))
        .collect()
}

fn assert_settings<'a>(names: impl IntoIterator<Item = &'a str>, place: &str) {
    let known = settings();
    for name in names {
        assert!(known.contains(name), "{place}: {name} is not a setting");
    }
}

/// Every document of every file under deploy/kubernetes.
fn manifests() -> Vec<Value> {
    let mut docs = Vec::new();
    let dir = format!("{ROOT}/deploy/kubernetes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                value["kind"].as_str().is_some(),
                "{}: no kind",
                file.display()
            );
            docs.push(value);
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Starts the binary as a container's `args` would (`serve …`), with its literal environment
/// (the listen addresses and database are the test's own).
async fn start_like(args: &[String], env: &[(String, String)]) -> LatchServer {
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
    let mut builder = LatchServer::builder(bin());
    for (name, value) in env {
        if !matches!(
            name.as_str(),
            "LATCH_LISTEN" | "LATCH_METRICS_LISTEN" | "LATCH_DATABASE_URL"
        ) {
            builder = builder.env(name, value);
        }
    }
    for arg in &args[1..] {
        builder = builder.arg(arg);
    }
    builder.start().await
}

#[tokio::test]
async fn the_systemd_unit_runs_the_real_binary() {
    let unit = read("deploy/latch.service");
    let command = |key: &str| -> Vec<String> {
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}"));
        let mut words = line.split_whitespace().map(str::to_owned);
        assert_eq!(
            words.next().as_deref(),
            Some("/usr/local/bin/latch"),
            "{key}"
        );
        words.collect()
    };
    let env: Vec<(String, String)> = read("deploy/latch.env")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_settings(env.iter().map(|(k, _)| k.as_str()), "deploy/latch.env");
    let server = start_like(&command("ExecStart"), &env).await;
    let pre = command("ExecStartPre");
    let pre: Vec<&str> = pre.iter().map(String::as_str).collect();
    let migrated = server.cli(&pre).await;
    assert!(
        migrated["schema_version"].as_i64().unwrap() > 0,
        "{migrated}"
    );
    assert!(unit.contains("\nUser=latch\n"), "not as root");
}

#[tokio::test]
async fn the_kubernetes_manifests_parse_and_their_commands_run() {
    let docs = manifests();
    let secret = of_kind(&docs, "Secret");
    assert_eq!(secret.len(), 1);
    let keys: Vec<&str> = secret[0]["stringData"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_settings(keys.iter().copied(), "Secret");
    assert!(keys.contains(&"LATCH_MASTER_KEY"));

    let deployment = of_kind(&docs, "Deployment");
    assert_eq!(deployment.len(), 1);
    let pod = &deployment[0]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert!(
        container["command"].is_null(),
        "the image's entrypoint is the binary"
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_settings(env.iter().map(|(k, _)| k.as_str()), "Deployment");
    let server = start_like(&strings(&container["args"]), &env).await;
    let http = latch_testkit::rp::reqwest_client();
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        let port = container[probe]["httpGet"]["port"].as_str().unwrap();
        let named = container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| p["name"] == port);
        assert!(named, "{probe} names a container port");
        let url = format!("http://{}{path}", server.listen());
        assert_eq!(
            http.get(&url).send().await.unwrap().status(),
            200,
            "{probe} {path}"
        );
    }
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");

    let service = of_kind(&docs, "Service");
    assert_eq!(service[0]["spec"]["ports"][0]["targetPort"], "http");

    let job = of_kind(&docs, "Job");
    assert_eq!(job.len(), 1);
    let migrate = strings(&job[0]["spec"]["template"]["spec"]["containers"][0]["args"]);
    let migrate: Vec<&str> = migrate.iter().map(String::as_str).collect();
    assert_eq!(migrate, ["migrate"]);
    let out = server.cli(&migrate).await;
    assert!(out["schema_version"].as_i64().unwrap() > 0, "{out}");
}

#[test]
fn the_dockerfile_builds_with_the_readme_command_and_runs_as_non_root() {
    let dockerfile = read("Dockerfile");
    let readme = read("README.md");
    let build = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo build --release"))
        .expect("the README's build command");
    let run = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("RUN cargo "))
        .expect("a cargo RUN step");
    assert_eq!(format!("cargo {run}"), build);
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("http://127.0.0.1:8080/healthz"));
    assert!(dockerfile.contains("VOLUME [\"/var/lib/latch\"]"));
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    let names: Vec<&str> = dockerfile
        .split(|c: char| c.is_whitespace())
        .filter_map(|w| w.split_once('=').map(|(k, _)| k))
        .filter(|k| k.starts_with("LATCH_") && *k != "LATCH_BUILD_COMMIT")
        .collect();
    assert!(names.contains(&"LATCH_DATABASE_URL"));
    assert_settings(names, "Dockerfile");
}

#[test]
fn docker_compose_parses_and_names_real_settings() {
    let compose: Value = serde_yaml_ng::from_str(&read("docker-compose.yml")).unwrap();
    let latch = &compose["services"]["latch"];
    assert_eq!(strings(&latch["command"]), ["serve"]);
    let env = latch["environment"].as_mapping().unwrap();
    assert_settings(
        env.keys().map(|k| k.as_str().unwrap()),
        "docker-compose.yml",
    );
    assert!(
        env["LATCH_DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    assert!(compose["services"]["postgres"]["healthcheck"].is_mapping());
}

#[test]
fn the_license_file_is_the_cargo_license() {
    let cargo = read("Cargo.toml");
    assert!(cargo.contains("license = \"Apache-2.0\""));
    let license = read("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
}
