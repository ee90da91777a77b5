use super::*;
use serde_json::json;

/// A tests/ folder under a fresh temporary project, with the given files.
fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!("trialrun-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let tests = root.join("tests");
    std::fs::create_dir_all(tests.join("data")).unwrap();
    for (path, text) in files {
        std::fs::write(tests.join(path), text).unwrap();
    }
    tests
}

const WORKERS: &str = r#"{
  "worker1": {"port": 5001, "env": {"WORKER_ID": "worker1", "N": 3}},
  "worker2": {"env": {"WORKER_ID": "worker2"}, "command": ["python3", "-m", "http.server"]}
}"#;

#[test]
fn the_seed_layout_loads_with_defaults_and_resolved_paths() {
    let tests = project(
        "seed",
        &[
            (
                "config.yaml",
                "task_id: \"t1\"\nbase_port: 6000\nmax_rounds: 3\nworkers_config: workers.json\nmongodb:\n  database: db1\n  collections:\n    users:\n      data_file: users.json\n      required_count: 1\n",
            ),
            ("workers.json", WORKERS),
            ("data/users.json", "[]"),
        ],
    );
    let c = load(&tests.join("config.yaml"), &Map::new()).unwrap();
    assert_eq!(c.task_id.as_deref(), Some("t1"));
    assert_eq!(c.max_rounds, 3);
    assert_eq!(c.data_dir, tests.join("data"));
    assert_eq!(c.project_dir, tests.parent().unwrap());
    let m = c.mongodb.unwrap();
    assert_eq!(
        (m.database.as_str(), m.collections[0].required_count),
        ("db1", Some(1))
    );
    assert_eq!(
        m.collections[0].data_file,
        Some(tests.join("data/users.json"))
    );
    // workers.json order; the port from the file, else base_port + position from 0 (as
    // prometheus-test numbers them).
    let names: Vec<_> = c
        .workers
        .iter()
        .map(|w| (w.name.as_str(), w.port))
        .collect();
    assert_eq!(names, [("worker1", 5001), ("worker2", 6001)]);
    assert_eq!(c.workers[0].env["N"], "3");
    assert_eq!(c.workers[0].command, None);
    assert_eq!(c.workers[0].ready, Ready::Tcp);
    assert_eq!(
        c.workers[1].command,
        Some(Command::Argv(vec![
            "python3".into(),
            "-m".into(),
            "http.server".into()
        ]))
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn config_yaml_worker_settings_override_workers_json() {
    let tests = project(
        "override",
        &[
            ("config.yaml", "workers:\n  worker2:\n    command: \"exec python3 server.py\"\n    ready: {http: health}\n    ready_timeout: 2\n    env: {EXTRA: yes}\n"),
            ("workers.json", WORKERS),
        ],
    );
    let c = load(&tests.join("config.yaml"), &Map::new()).unwrap();
    let w = &c.workers[1];
    assert_eq!(
        w.command,
        Some(Command::Shell("exec python3 server.py".into()))
    );
    assert_eq!(w.ready, Ready::Http("/health".into()));
    assert_eq!(w.ready_timeout, Duration::from_secs(2));
    assert_eq!(w.env["EXTRA"], "true");
    assert_eq!(w.env["WORKER_ID"], "worker2");
    assert_eq!(w.port, 0, "no port and no base_port: chosen at start");
}

#[test]
fn unknown_keys_are_kept_and_warned_about_with_their_line() {
    let tests = project(
        "unknown",
        &[
            (
                "config.yaml",
                "task_id: t\nmy_setting: 42\nmongodb:\n  database: d\n  colections: {}\n",
            ),
            ("workers.json", WORKERS),
        ],
    );
    let c = load(&tests.join("config.yaml"), &Map::new()).unwrap();
    assert_eq!(c.extra["my_setting"], json!(42));
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("config.yaml: line 2: unknown key 'my_setting'"),
        "{}",
        c.warnings[0]
    );
    assert!(
        c.warnings[1].contains("line 5: unknown key 'mongodb.colections'"),
        "{}",
        c.warnings[1]
    );
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let tests = project(
        "badyaml",
        &[
            ("config.yaml", "task_id: t\nmax_rounds: [1\nbase_port: 3\n"),
            ("workers.json", WORKERS),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert_eq!(err.kind, crate::steps::StepsErrorKind::Config);
    assert!(err.message.contains("config.yaml: line"), "{err}");
}

#[test]
fn a_wrong_type_names_file_line_and_key() {
    let tests = project(
        "badtype",
        &[
            ("config.yaml", "task_id: t\n\nmax_rounds: many\n"),
            ("workers.json", WORKERS),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(
        err.message
            .contains("config.yaml: line 3: key 'max_rounds'"),
        "{err}"
    );
}

#[test]
fn malformed_workers_json_names_file_line_and_key() {
    let tests = project(
        "badjson",
        &[
            ("config.yaml", "task_id: t\n"),
            (
                "workers.json",
                "{\n  \"w\": {\n    \"port\": \"abc\"\n  }\n}",
            ),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(
        err.message.contains("workers.json: line 3: key 'port'"),
        "{err}"
    );
    let tests = project(
        "badjson2",
        &[
            ("config.yaml", "task_id: t\n"),
            ("workers.json", "{\n  \"w\": {\"port\": 1,}\n}"),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(err.message.contains("workers.json: line 2"), "{err}");
}

#[test]
fn overrides_replace_values_and_are_checked_by_key() {
    let tests = project(
        "overrides",
        &[
            ("config.yaml", "task_id: t\nmax_rounds: 2\n"),
            ("workers.json", WORKERS),
        ],
    );
    let file = tests.join("config.yaml");
    let o = |v: Value| v.as_object().unwrap().clone();
    let c = load(&file, &o(json!({"max_rounds": 5, "custom": "x"}))).unwrap();
    assert_eq!((c.max_rounds, c.extra["custom"].clone()), (5, json!("x")));
    let err = load(&file, &o(json!({"max_rounds": "five"}))).unwrap_err();
    assert!(
        err.message
            .starts_with("config_overrides: key 'max_rounds'"),
        "{err}"
    );
    let err = load(&file, &o(json!({"max_rounds": 0}))).unwrap_err();
    assert!(
        err.message.contains("max_rounds") && err.message.contains("at least 1"),
        "{err}"
    );
}

#[test]
fn references_are_checked() {
    let tests = project(
        "refs",
        &[
            ("config.yaml", "workers:\n  nobody:\n    ready_timeout: 1\n"),
            ("workers.json", WORKERS),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(
        err.message.contains("line 2: key 'workers.nobody'")
            && err.message.contains("no worker named"),
        "{err}"
    );

    let tests = project(
        "missing-data",
        &[
            (
                "config.yaml",
                "mongodb:\n  database: d\n  collections:\n    c:\n      data_file: nope.json\n",
            ),
            ("workers.json", WORKERS),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(
        err.message
            .contains("line 5: key 'mongodb.collections.c.data_file'")
            && err.message.contains("nope.json"),
        "{err}"
    );

    let tests = project(
        "dup-port",
        &[
            ("config.yaml", ""),
            (
                "workers.json",
                r#"{"a": {"port": 7001}, "b": {"port": 7001}}"#,
            ),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(
        err.message.contains("port 7001 is also worker 'a''s port"),
        "{err}"
    );

    let tests = project(
        "bad-ready",
        &[
            ("config.yaml", ""),
            (
                "workers.json",
                r#"{"a": {"ready": {"http": "/x", "tcp": true}}}"#,
            ),
        ],
    );
    let err = load(&tests.join("config.yaml"), &Map::new()).unwrap_err();
    assert!(
        err.message.contains("key 'a'") && err.message.contains("ready must be"),
        "{err}"
    );
}

/// A real prometheus-test project's config: collections without data files, the package's
/// keys (middle_server_url, rounds_collection), workers.json's env_vars, keypairs,
/// server_entrypoint and keys of its own (read with worker.get).
#[test]
fn prometheus_test_keys_are_understood() {
    let tests = project(
        "package-keys",
        &[
            (
                "config.yaml",
                "task_id: t\nmiddle_server_url: http://127.0.0.1:1\nrounds_collection: issues\nmongodb:\n  database: d\n  collections:\n    issues:\n      data_file: issues.json\n    audits: {}\n",
            ),
            (
                "workers.json",
                r#"{"w1": {"env_vars": {"GITHUB_TOKEN": "W1_TOKEN"}, "keypairs": {"staking": "W1_STAKING"}, "server_entrypoint": "srv.py", "twitter_id": "me"}}"#,
            ),
            ("data/issues.json", "[]"),
        ],
    );
    let c = load(&tests.join("config.yaml"), &Map::new()).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.extra["middle_server_url"], json!("http://127.0.0.1:1"));
    assert_eq!(c.rounds_collection.as_deref(), Some("issues"));
    let m = c.mongodb.as_ref().unwrap();
    let audits = m.collections.iter().find(|c| c.name == "audits").unwrap();
    assert_eq!(audits.data_file, None);
    let w = &c.workers[0];
    assert_eq!(w.env_vars["GITHUB_TOKEN"], "W1_TOKEN");
    assert_eq!(w.keypairs["staking"], "W1_STAKING");
    assert_eq!(
        w.server_entrypoint,
        Some(tests.parent().unwrap().join("srv.py"))
    );
    assert_eq!(w.data["twitter_id"], json!("me"));

    // max_rounds wins over counting; without rounds_collection, "todos" counts when it is
    // one of the collections, as the package's default.
    let c = load(
        &tests.join("config.yaml"),
        &Map::from_iter([("max_rounds".to_string(), json!(2))]),
    )
    .unwrap();
    assert_eq!((c.max_rounds, c.rounds_collection), (2, None));
    std::fs::write(
        tests.join("config.yaml"),
        "mongodb:\n  database: d\n  collections:\n    todos: {}\n",
    )
    .unwrap();
    let c = load(&tests.join("config.yaml"), &Map::new()).unwrap();
    assert_eq!(c.rounds_collection.as_deref(), Some("todos"));
}
