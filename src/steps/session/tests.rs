use super::*;
use crate::store;

/// A project with two workers (python3's http.server, a stand-in for any command) and
/// the given config.yaml.
fn project(name: &str, config: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("trialrun-session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let tests = root.join("tests");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(tests.join("config.yaml"), config).unwrap();
    let command = r#"exec python3 -m http.server "$PORT" --bind 127.0.0.1"#;
    let workers = serde_json::json!({"w1": {"command": command}, "w2": {"command": command, "ready": {"http": "/"}}});
    std::fs::write(tests.join("workers.json"), workers.to_string()).unwrap();
    tests.join("config.yaml")
}

fn options(config_file: PathBuf, steps: &[(&str, &str)]) -> Options {
    Options {
        store_path: Some(config_file.parent().unwrap().join("store.db")),
        config_file,
        steps: steps
            .iter()
            .map(|(n, w)| StepSpec {
                name: n.to_string(),
                description: String::new(),
                worker: w.to_string(),
            })
            .collect(),
        python: PathBuf::from("python3"),
        fallback_id: "e2e".into(),
        ..Options::default()
    }
}

/// Runs the session to its end, failing the steps named in `fail`; returns "name#round"s.
fn drive(session: &mut Session, fail: &[&str]) -> Vec<String> {
    let mut ran = vec![];
    while let Some((next, spec)) = session.next_step().unwrap() {
        let outcome = if fail.contains(&spec.name.as_str()) {
            StepOutcome::Failed
        } else {
            StepOutcome::Passed
        };
        let mut global = session.global_state().clone();
        global.insert(spec.name.clone(), Value::from(next.round));
        session
            .finish_step(next, outcome, None, None, None, 1, 0.01, Map::new(), global)
            .unwrap();
        ran.push(format!("{}#{}", spec.name, next.round));
    }
    ran
}

#[test]
fn a_session_runs_rounds_saves_state_records_and_resumes() {
    let config = project("resume", "max_rounds: 2\n");
    let steps = [("a", "w1"), ("b", "w2")];
    let mut s = Session::prepare(options(config.clone(), &steps)).unwrap();
    assert_eq!(s.suite_id, "e2e", "no task_id: the caller's fallback id");
    s.begin_record().unwrap();
    s.start_data().unwrap();
    s.start_workers().unwrap();
    let pids: Vec<u32> = s.pids().into_iter().map(|(_, pid)| pid).collect();
    assert_eq!(pids.len(), 2);
    assert_eq!(drive(&mut s, &["b"]), ["a#1", "b#1"]);
    assert!(s.failed() && !s.finished());
    assert!(s.close(false, false).is_none());
    for pid in pids {
        assert!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err(),
            "worker {pid} stopped"
        );
    }

    let saved = state::read(&s.state_path).unwrap().unwrap();
    assert_eq!(
        (saved.round, saved.completed.clone()),
        (1, vec!["a".to_string()])
    );
    assert_eq!(
        saved.global_state["b"],
        Value::from(1),
        "state of a failed step is kept"
    );

    let mut again = Session::prepare(options(config.clone(), &steps)).unwrap();
    again.begin_record().unwrap();
    again.start_data().unwrap();
    again.start_workers().unwrap();
    assert_eq!(drive(&mut again, &[]), ["b#1", "a#2", "b#2"]);
    assert!(again.finished());
    again.close(false, false);

    let conn = store::open(&config.parent().unwrap().join("store.db")).unwrap();
    let runs = store::list_runs(&conn, None, 10).unwrap();
    let statuses: Vec<_> = runs.iter().map(|r| (r.status, r.cases)).collect();
    assert_eq!(
        statuses,
        [(RunStatus::Completed, 3), (RunStatus::Failed, 2)]
    );
}

#[test]
fn changed_steps_are_refused_and_a_reset_starts_over() {
    let config = project("changed", "task_id: t\n");
    let mut s = Session::prepare(options(config.clone(), &[("a", "w1"), ("b", "w1")])).unwrap();
    s.start_data().unwrap();
    s.start_workers().unwrap();
    drive(&mut s, &["b"]);
    s.close(false, false);

    let err = Session::prepare(options(config.clone(), &[("a", "w1"), ("c", "w1")]))
        .err()
        .unwrap();
    assert_eq!(err.kind, StepsErrorKind::Config);
    assert!(err.message.contains("the step list changed"), "{err}");
    let mut reset = options(config.clone(), &[("a", "w1"), ("c", "w1")]);
    reset.force_reset = true;
    let s = Session::prepare(reset).unwrap();
    assert!(!s.state_path.exists(), "the reset removed the saved state");
}

#[test]
fn bad_steps_are_refused_before_anything_starts() {
    let config = project("badsteps", "");
    let err = Session::prepare(options(config.clone(), &[("a", "nobody")]))
        .err()
        .unwrap();
    assert!(
        err.message.contains("step 'a': no worker named 'nobody'")
            && err.message.contains("w1, w2"),
        "{err}"
    );
    let err = Session::prepare(options(config.clone(), &[("a", "w1"), ("a", "w2")]))
        .err()
        .unwrap();
    assert!(err.message.contains("step name 'a' is used twice"), "{err}");
    let err = Session::prepare(options(config.clone(), &[]))
        .err()
        .unwrap();
    assert!(err.message.contains("the step list is empty"), "{err}");
    let mut o = options(config, &[("a", "w1")]);
    o.from = Some("zzz".into());
    assert!(Session::prepare(o)
        .err()
        .unwrap()
        .message
        .contains("no step named 'zzz'"));
}

/// workers.json's env_vars and keypairs (prometheus-test's): values read from other
/// variables; a configured key file used as is; missing ones generated once, kept for the
/// next run, with a note; the worker's variable pointing at its file.
#[test]
fn env_vars_and_keypairs_reach_the_workers() {
    let config = project("keys", "");
    let tests = config.parent().unwrap().to_path_buf();
    let own = tests.join("own.json");
    keys::generate_keypair_file(&own).unwrap();
    std::fs::write(
        tests.join(".env"),
        "SOURCE_TOKEN=secret\nW1_STAKING=own.json\n",
    )
    .unwrap();
    let workers = serde_json::json!({
        "w1": {"command": "true", "env_vars": {"TOKEN": "SOURCE_TOKEN", "DATA_DIR": "/x"},
               "keypairs": {"staking": "W1_STAKING", "main": "W1_MAIN"}},
    });
    std::fs::write(tests.join("workers.json"), workers.to_string()).unwrap();
    let session = Session::prepare(options(config.clone(), &[("a", "w1")])).unwrap();
    let env = &session.workers()[0].env;
    assert_eq!(
        (env["TOKEN"].as_str(), env["DATA_DIR"].as_str()),
        ("secret", "/x")
    );
    let keys = session.keypairs(0);
    assert_eq!(keys["staking"], own);
    assert_eq!(env["W1_STAKING"], own.display().to_string());
    let generated = tests.join("data/keys/w1_main.json");
    assert_eq!(
        (&keys["main"], &env["W1_MAIN"]),
        (&generated, &generated.display().to_string())
    );
    assert!(session
        .notes
        .iter()
        .any(|n| n.contains("W1_MAIN is not set")));
    let seed = keys::read_keypair_file(&generated).unwrap();
    drop(session);
    let again = Session::prepare(options(config.clone(), &[("a", "w1")])).unwrap();
    assert_eq!(
        keys::read_keypair_file(&again.keypairs(0)["main"]).unwrap(),
        seed
    );

    // A variable env_vars reads that is not set: refused, naming the worker.
    let workers =
        serde_json::json!({"w1": {"command": "true", "env_vars": {"T": "NOT_SET_ANYWHERE"}}});
    std::fs::write(tests.join("workers.json"), workers.to_string()).unwrap();
    let err = Session::prepare(options(config, &[("a", "w1")]))
        .err()
        .unwrap();
    assert!(
        err.message.contains("worker 'w1'") && err.message.contains("T (from NOT_SET_ANYWHERE)"),
        "{err}"
    );
}
