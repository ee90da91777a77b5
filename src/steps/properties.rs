//! Property tests of the parsers that read outside input: config.yaml, workers.json,
//! .env and test_state.json. Whatever the bytes, each gives a value or a config error
//! naming its file, never a panic; what the writers write reads back the same. Case
//! counts are fixed so the whole file runs in a few seconds.

use super::config;
use super::env;
use super::error::StepsErrorKind;
use super::procs::ProcId;
use super::state::{self, Fingerprint, SavedState, Started, StartedGroup};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A fresh tests/ folder for one case.
fn tests_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir()
        .join(format!(
            "trialrun-prop-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
        .join("tests");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn remove(tests: &Path) {
    let _ = std::fs::remove_dir_all(tests.parent().unwrap());
}

/// YAML-ish text: the config's keys with values of every shape, and noise.
fn config_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("task_id"),
        Just("max_rounds"),
        Just("base_port"),
        Just("data_dir"),
        Just("workers_config"),
        Just("step_timeout"),
        Just("retries"),
        Just("continue_on_failure"),
        Just("rounds_collection"),
        Just("mongodb"),
        Just("workers"),
        Just("surprise"),
    ];
    let value = prop_oneof![
        Just("1".to_string()),
        Just("0".to_string()),
        Just("-3".to_string()),
        Just("99999999999".to_string()),
        Just("1.5".to_string()),
        Just(".nan".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("[1, 2]".to_string()),
        Just("{a: 1}".to_string()),
        Just("\"x\"".to_string()),
        Just("&a [*a]".to_string()),
        "[ -~]{0,12}",
    ];
    prop::collection::vec((key, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    })
}

/// A config error naming `file` (its message starts with the file's path).
fn names(err: &super::StepsError, file: &Path) -> bool {
    err.kind == StepsErrorKind::Config && err.message.contains(&*file.to_string_lossy())
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn config_yaml_gives_a_config_or_an_error_naming_it(text in prop_oneof![
        config_text(),
        "\\PC{0,80}",
    ]) {
        let tests = tests_dir("config");
        let file = tests.join("config.yaml");
        std::fs::write(&file, &text).unwrap();
        std::fs::write(tests.join("workers.json"), r#"{"w": {}}"#).unwrap();
        match config::load(&file, &Map::new()) {
            Ok(c) => {
                prop_assert!(c.max_rounds >= 1);
                prop_assert!(c.step_timeout.is_none_or(|t| t.is_finite() && t > 0.0));
                prop_assert!(!c.workers.is_empty());
            }
            // config.yaml, or the file one of its keys names (workers_config, data_dir).
            Err(e) => prop_assert!(
                e.kind == StepsErrorKind::Config
                    && (e.message.starts_with(&*file.to_string_lossy())
                        || e.message.starts_with('/')),
                "{e}"
            ),
        }
        remove(&tests);
    }

    #[test]
    fn workers_json_gives_workers_or_an_error_naming_it(text in prop_oneof![
        "\\PC{0,80}",
        prop::collection::btree_map("[a-z]{1,4}", prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![Just("port"), Just("env"), Just("command"), Just("ready"),
                    Just("stop_grace"), Just("env_vars"), Just("keypairs"), Just("x")]
                    .prop_map(str::to_string),
                prop_oneof![
                    any::<i32>().prop_map(Value::from),
                    any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
                    "\\PC{0,8}".prop_map(Value::from),
                    prop::collection::btree_map("[A-Z]{1,3}", "\\PC{0,6}", 0..3)
                        .prop_map(|m| serde_json::to_value(m).unwrap()),
                ],
                0..4,
            ).prop_map(|m| serde_json::to_value(m).unwrap()),
        ], 0..4).prop_map(|m| serde_json::to_string_pretty(&m).unwrap()),
    ]) {
        let tests = tests_dir("workers");
        let file = tests.join("workers.json");
        std::fs::write(tests.join("config.yaml"), "task_id: t\n").unwrap();
        std::fs::write(&file, &text).unwrap();
        match config::load(&tests.join("config.yaml"), &Map::new()) {
            Ok(c) => {
                prop_assert!(!c.workers.is_empty());
                for w in &c.workers {
                    for (k, v) in &w.env {
                        prop_assert!(env::check_variable(k, v).is_ok(), "{k}");
                    }
                }
            }
            Err(e) => prop_assert!(names(&e, &file), "{e}"),
        }
        remove(&tests);
    }
}

/// Keys and single-quoted values dotenv reads back literally.
fn dotenv_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[A-Z_][A-Z0-9_]{0,8}", "[^'\\\\\n\r\0]{0,20}", 0..6)
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn dotenv_text_gives_receivable_variables_or_an_error_naming_the_file(
        text in prop_oneof![
            "\\PC{0,60}",
            prop::collection::vec(prop_oneof![
                "[A-Z]{1,4}=[ -~]{0,10}",
                "[A-Z]{1,4}=\"[ -~]{0,10}",
                "export [A-Z]{1,3}='[ -~]{0,6}'",
                "[A-Z]{1,3}=a\0b",
                "#[ -~]{0,10}",
                "[ -~]{0,10}",
            ], 0..5).prop_map(|lines| lines.join("\n")),
        ]
    ) {
        let path = Path::new("/project/.env");
        match env::parse_dotenv(path, &text) {
            Ok(vars) => {
                for (k, v) in &vars {
                    prop_assert!(env::check_variable(k, v).is_ok(), "{k}={v:?}");
                }
            }
            Err(e) => {
                prop_assert!(e.message.starts_with("/project/.env"), "{e}");
                prop_assert!(e.message.len() < 400, "{}", e.message.len());
            }
        }
    }

    #[test]
    fn dotenv_written_single_quoted_reads_back_the_same(vars in dotenv_map()) {
        let text: String = vars.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
        let read = env::parse_dotenv(Path::new(".env"), &text).unwrap();
        prop_assert_eq!(read, vars);
    }

    #[test]
    fn state_bytes_give_a_state_or_an_error_naming_the_file(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(br#"{"version": 1}"#.to_vec()),
            "\\PC{0,40}".prop_map(String::into_bytes),
        ]
    ) {
        let path = Path::new("/data/test_state.json");
        if let Err(e) = state::parse(path, &bytes) {
            prop_assert!(e.kind == StepsErrorKind::Config, "{e}");
            prop_assert!(e.message.starts_with("/data/test_state.json: "), "{e}");
            prop_assert!(e.message.contains("--reset"), "{e}");
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("\\PC{0,6}", json_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn saved_state() -> impl Strategy<Value = SavedState> {
    (
        (
            prop::collection::vec("\\PC{1,8}", 0..4),
            json_map(),
            1..u32::MAX,
            any::<bool>(),
        ),
        (json_map(), json_map(), json_map()),
        prop::option::of((
            "[0-9a-f-]{1,20}",
            prop::collection::vec(("\\PC{1,6}", 1..i32::MAX, any::<u64>()), 0..3),
        )),
    )
        .prop_map(
            |((steps, config, round, finished), (rs, gs, rounds), started)| {
                let mut s = SavedState::fresh(Fingerprint {
                    steps: steps.clone(),
                    config,
                });
                s.round = round;
                s.completed = steps;
                s.finished = finished;
                s.round_state = rs;
                s.global_state = gs;
                s.rounds = rounds;
                s.started = started.map(|(token, groups)| Started {
                    token,
                    groups: groups
                        .into_iter()
                        .map(|(worker, pid, start_time)| StartedGroup {
                            worker,
                            leader: ProcId { pid, start_time },
                        })
                        .collect(),
                });
                s
            },
        )
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn written_states_read_back_the_same(s in saved_state()) {
        let tests = tests_dir("state");
        let path = tests.join("data").join(state::STATE_FILE);
        state::write(&path, &s).unwrap();
        prop_assert_eq!(state::read(&path).unwrap(), Some(s.clone()));
        prop_assert_eq!(state::read_started(&path), s.started);
        remove(&tests);
    }
}
