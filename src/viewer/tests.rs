//! The viewer over real HTTP: a Viewer on a free port against a temporary store, asked
//! with raw HTTP/1.1 requests.

use super::*;
use crate::store::test_support::{write_run, TestDir};
use crate::store::Writer;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Suite "qa" twice (alpha-1, then alpha-2 where h1 newly fails), then suite "other".
fn store(dir: &TestDir) -> PathBuf {
    let path = dir.path().join("trialrun.db");
    let w = Writer::start(&path).unwrap();
    write_run(
        &w,
        "alpha-1",
        "qa",
        100.0,
        &[
            (
                "h1",
                None,
                vec![("judge", Some(0.9), "passed", Some(r#"{"why":"base"}"#))],
            ),
            ("h2", None, vec![("judge", Some(0.8), "passed", None)]),
            ("gone", None, vec![("judge", Some(1.0), "passed", None)]),
        ],
    );
    write_run(
        &w,
        "alpha-2",
        "qa",
        200.0,
        &[
            (
                "h1",
                None,
                vec![("judge", Some(0.2), "failed", Some(r#"{"why":"head"}"#))],
            ),
            ("h2", None, vec![("judge", Some(0.8), "passed", None)]),
            ("new", Some("Traceback\nValueError: boom"), vec![]),
        ],
    );
    write_run(
        &w,
        "beta-1",
        "other",
        300.0,
        &[("x", None, vec![("judge", Some(1.0), "passed", None)])],
    );
    w.close().unwrap();
    path
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// An error answer: its status and message.
    fn error(&self) -> (u16, String) {
        let json = self.json();
        (
            self.status,
            json["error"]
                .as_str()
                .unwrap_or_else(|| panic!("no error in {json}"))
                .to_string(),
        )
    }
}

fn get(viewer: &Viewer, path: &str) -> Answer {
    request(
        viewer.addr(),
        path,
        &format!("127.0.0.1:{}", viewer.addr().port()),
    )
}

fn request(addr: SocketAddr, path: &str, host: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn unchunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[end + 2..end + 2 + size]);
        rest = &rest[end + 2 + size + 2..];
    }
}

fn ids(runs: &Value) -> Vec<&str> {
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[test]
fn viewer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Viewer>();
}

#[test]
fn serves_the_page_with_content_types_and_a_restrictive_policy() {
    let dir = TestDir::new("viewer-assets");
    let viewer = Viewer::start(store(&dir), 0).unwrap();
    assert_eq!(
        viewer.addr().ip(),
        std::net::IpAddr::from(Ipv4Addr::LOCALHOST)
    );
    assert_ne!(viewer.addr().port(), 0);
    assert_eq!(
        viewer.url(),
        format!("http://127.0.0.1:{}/", viewer.addr().port())
    );

    for (path, content_type, snippet) in [
        ("/", "text/html; charset=utf-8", "<script src=\"/app.js\""),
        ("/app.js", "text/javascript; charset=utf-8", "hashchange"),
        ("/style.css", "text/css; charset=utf-8", "table"),
        ("/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let answer = get(&viewer, path);
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("content-type"), Some(content_type), "{path}");
        assert!(answer.body.contains(snippet), "{path}");
        let policy = answer.header("content-security-policy").unwrap();
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    }
    // The page pulls in nothing from elsewhere.
    // (app.js names the SVG namespace to draw call timelines: a name, never fetched.)
    for path in ["/", "/app.js", "/style.css"] {
        let body = get(&viewer, path)
            .body
            .replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} refers elsewhere"
        );
        assert!(!body.contains("innerHTML"), "{path} writes HTML");
    }

    let missing = get(&viewer, "/nope");
    assert_eq!(missing.error(), (404, "no such page: /nope".to_string()));
    assert!(missing.header("content-security-policy").is_some());
    viewer.stop();
}

#[test]
fn lists_runs_newest_first_by_suite_and_limit() {
    let dir = TestDir::new("viewer-runs");
    let viewer = Viewer::start(store(&dir), 0).unwrap();

    let all = get(&viewer, "/api/runs");
    assert_eq!(all.status, 200);
    assert_eq!(all.header("cache-control"), Some("no-store"));
    let runs = all.json();
    assert_eq!(ids(&runs), ["beta-1", "alpha-2", "alpha-1"]);
    let alpha2 = &runs[1];
    assert_eq!(alpha2["suite_id"], "qa");
    assert_eq!(alpha2["status"], "completed");
    assert_eq!(alpha2["cases"], 3);
    assert_eq!(alpha2["errored_cases"], 1);
    assert_eq!(alpha2["git_branch"], "main");

    assert_eq!(
        ids(&get(&viewer, "/api/runs?suite=qa").json()),
        ["alpha-2", "alpha-1"]
    );
    assert_eq!(
        ids(&get(&viewer, "/api/runs?suite=qa&limit=1").json()),
        ["alpha-2"]
    );
    assert_eq!(
        ids(&get(&viewer, "/api/runs?suite=&limit=").json()).len(),
        3
    );
    assert!(get(&viewer, "/api/runs?suite=nope")
        .json()
        .as_array()
        .unwrap()
        .is_empty());

    let (status, message) = get(&viewer, "/api/runs?limit=many").error();
    assert_eq!(
        (status, message.as_str()),
        (400, r#"limit must be a whole number, got "many""#)
    );
}

#[test]
fn gives_one_run_by_id_prefix_or_latest() {
    let dir = TestDir::new("viewer-run");
    let viewer = Viewer::start(store(&dir), 0).unwrap();

    let answer = get(&viewer, "/api/runs/alpha-2");
    assert_eq!(answer.status, 200);
    let data = answer.json();
    assert_eq!(data["run"]["id"], "alpha-2");
    let hashes: Vec<&str> = data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect();
    assert_eq!(hashes, ["h1", "h2", "new"]);
    // JSON fields arrive as JSON, not as strings holding JSON.
    assert_eq!(data["cases"][0]["test_case"]["question"], "<b>h1</b>");
    assert_eq!(data["cases"][2]["error"], "Traceback\nValueError: boom");
    let first = &data["evaluations"][0];
    assert_eq!(first["metadata"]["why"], "head");
    assert_eq!(first["threshold"]["gte"], 0.5);
    assert_eq!(first["verdict"], "failed");

    assert_eq!(get(&viewer, "/api/runs/beta").json()["run"]["id"], "beta-1");
    assert_eq!(
        get(&viewer, "/api/runs/latest").json()["run"]["id"],
        "beta-1"
    );
    assert_eq!(
        get(&viewer, "/api/runs/latest?suite=qa").json()["run"]["id"],
        "alpha-2"
    );

    let (status, message) = get(&viewer, "/api/runs/zzz").error();
    assert_eq!(status, 404);
    assert!(message.contains("no run matches \"zzz\""), "{message}");
    let (status, message) = get(&viewer, "/api/runs/alpha-").error();
    assert_eq!(status, 400);
    assert!(message.contains("matches 2 runs"), "{message}");
    // Within a suite that has none of them, the prefix names nothing.
    assert_eq!(get(&viewer, "/api/runs/alpha-?suite=other").status, 404);
    assert_eq!(get(&viewer, "/api/runs/latest?suite=nope").status, 404);
}

#[test]
fn compares_two_runs_by_hash_with_regressions() {
    let dir = TestDir::new("viewer-compare");
    let viewer = Viewer::start(store(&dir), 0).unwrap();

    // base defaults to the run before head
    let answer = get(&viewer, "/api/compare?suite=qa");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let json = answer.json();
    let comparison = &json["comparison"];
    assert_eq!(comparison["base"]["id"], "alpha-1");
    assert_eq!(comparison["head"]["id"], "alpha-2");
    assert_eq!(comparison["added"], serde_json::json!(["new"]));
    assert_eq!(comparison["removed"], serde_json::json!(["gone"]));
    let h1 = &comparison["cases"][0];
    assert_eq!(h1["hash"], "h1");
    assert_eq!(h1["evaluations"][0]["change"], "newly_failing");
    assert_eq!(h1["evaluations"][0]["base"]["score"], 0.9);
    assert_eq!(h1["evaluations"][0]["head"]["verdict"], "failed");
    assert_eq!(
        comparison["evaluators"][0]["newly_failing"],
        serde_json::json!(["h1"])
    );
    let regressions = json["regressions"].as_array().unwrap();
    assert_eq!(regressions.len(), 1, "{regressions:?}");
    assert_eq!(regressions[0]["hash"], "h1");
    assert_eq!(regressions[0]["evaluator_id"], "judge");
    assert_eq!(regressions[0]["reason"], "passed -> failed");

    let explicit = get(&viewer, "/api/compare?base=alpha-1&head=alpha-2").json();
    assert_eq!(explicit["comparison"]["head"]["id"], "alpha-2");
    let reversed = get(&viewer, "/api/compare?base=alpha-2&head=alpha-1").json();
    assert!(reversed["regressions"].as_array().unwrap().is_empty());
    // head alone: its base is the run before it
    assert_eq!(
        get(&viewer, "/api/compare?head=alpha-2").json()["comparison"]["base"]["id"],
        "alpha-1"
    );

    // the latest run overall is the first of its suite: nothing to compare it with
    let (status, message) = get(&viewer, "/api/compare").error();
    assert_eq!(status, 404);
    assert!(message.contains("nothing to compare it with"), "{message}");
    assert_eq!(
        get(&viewer, "/api/compare?base=alpha-1&head=zzz").status,
        404
    );
    assert_eq!(
        get(&viewer, "/api/compare?base=alpha-&head=alpha-2").status,
        400
    );
    assert_eq!(
        get(&viewer, "/api/compare?base=alpha-1&head=alpha-").status,
        400
    );
}

#[test]
fn an_empty_store_lists_no_runs() {
    let dir = TestDir::new("viewer-empty");
    let viewer = Viewer::start(dir.path().join("new").join("trialrun.db"), 0).unwrap();
    assert_eq!(get(&viewer, "/api/runs").json(), serde_json::json!([]));
    let (status, message) = get(&viewer, "/api/runs/latest").error();
    assert_eq!(
        (status, message.as_str()),
        (404, "the store has no runs yet")
    );
}

#[test]
fn answers_only_requests_addressed_to_loopback() {
    let dir = TestDir::new("viewer-host");
    let viewer = Viewer::start(store(&dir), 0).unwrap();
    let port = viewer.addr().port();
    assert_eq!(
        request(viewer.addr(), "/api/runs", &format!("localhost:{port}")).status,
        200
    );
    let rebound = request(
        viewer.addr(),
        "/api/runs",
        &format!("attacker.example:{port}"),
    );
    assert_eq!(rebound.status, 403);
    assert!(rebound
        .error()
        .1
        .contains(&format!("http://127.0.0.1:{port}/")));
    assert_eq!(request(viewer.addr(), "/", "127.0.0.1").status, 403);
}

#[test]
fn a_busy_port_is_an_error_naming_it() {
    let dir = TestDir::new("viewer-busy");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Viewer::start(store(&dir), port)
        .err()
        .expect("the port is taken");
    assert!(
        matches!(err, ViewerError::Bind { port: p, .. } if p == port),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("already in use"), "{message}");
}

#[test]
fn a_corrupt_store_is_an_error_before_serving() {
    let dir = TestDir::new("viewer-corrupt");
    let path = dir.path().join("trialrun.db");
    std::fs::write(&path, vec![0xA5; 4096]).unwrap();
    let err = Viewer::start(path.clone(), 0)
        .err()
        .expect("a corrupt store is refused");
    assert!(matches!(err, ViewerError::Store(_)), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn stop_is_prompt_with_an_idle_connection_open_and_frees_the_port() {
    let dir = TestDir::new("viewer-stop");
    let viewer = Viewer::start(store(&dir), 0).unwrap();
    let addr = viewer.addr();
    // A browser keeps its connection open between requests.
    let mut idle = TcpStream::connect(addr).unwrap();
    write!(
        idle,
        "GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        addr.port()
    )
    .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let started = Instant::now();
    viewer.stop();
    assert!(
        started.elapsed() < SHUTDOWN_GRACE,
        "stop took {:?}",
        started.elapsed()
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after stop"
    );
    // The same port can be served again at once.
    let again_dir = TestDir::new("viewer-stop-again");
    let again = Viewer::start(store(&again_dir), addr.port()).unwrap();
    let answer = get(&again, "/api/runs");
    assert_eq!(answer.status, 200, "{}", answer.body);
    drop(again); // Drop stops too
    assert!(TcpStream::connect(addr).is_err());
}

/// A POST with `headers` (each "Name: value") and `body`.
fn post(viewer: &Viewer, path: &str, headers: &[&str], body: &str) -> Answer {
    let mut stream = TcpStream::connect(viewer.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        viewer.addr().port(),
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    write!(stream, "{head}\r\n{body}").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

#[test]
fn a_grade_posted_by_the_page_is_saved_and_shown_with_the_run() {
    let dir = TestDir::new("viewer-grade");
    let viewer = Viewer::start(store(&dir), 0).unwrap();
    let own = format!("Origin: http://127.0.0.1:{}", viewer.addr().port());
    let json = "Content-Type: application/json";
    let answer = post(
        &viewer,
        "/api/runs/alpha-2/review/h1",
        &[json, &own, "Sec-Fetch-Site: same-origin"],
        r#"{"grade":"fail","score":0.25,"note":"wrong <b>answer</b>"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["items"][0]["grade"], "fail");

    let run = get(&viewer, "/api/runs/alpha-2").json();
    let item = &run["review"]["items"][0];
    assert_eq!(item["case_hash"], "h1");
    assert_eq!(item["score"], 0.25);
    assert_eq!(item["note"], "wrong <b>answer</b>");
    assert!(item["graded_at"].as_f64().unwrap() > 1.7e9);
    // A client that is not a browser sends no Origin: accepted (the Host check applies).
    let answer = post(
        &viewer,
        "/api/runs/alpha/review/h2",
        &[json],
        r#"{"grade":"pass"}"#,
    );
    assert_eq!(answer.error().0, 400, "alpha is ambiguous: {}", answer.body);
    let answer = post(
        &viewer,
        "/api/runs/alpha-1/review/h2",
        &[json],
        r#"{"grade":"pass"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);

    let compare = get(&viewer, "/api/compare?base=alpha-1&head=alpha-2").json();
    let reviews = &compare["comparison"]["reviews"];
    assert_eq!(reviews[0]["hash"], "h1");
    assert_eq!(reviews[0]["head"]["grade"], "fail");
    assert_eq!(reviews[1]["hash"], "h2");
    assert_eq!(reviews[1]["base"]["grade"], "pass");
}

#[test]
fn grades_from_other_sites_or_in_bad_shapes_are_refused_and_nothing_is_saved() {
    let dir = TestDir::new("viewer-grade-refused");
    let viewer = Viewer::start(store(&dir), 0).unwrap();
    let json = "Content-Type: application/json";
    let pass = r#"{"grade":"pass"}"#;
    let refused = [
        // Another site's page (CSRF), by its Origin or by Sec-Fetch-Site.
        (
            vec![json, "Origin: http://evil.example"],
            pass,
            403,
            "evil.example",
        ),
        (vec![json, "Origin: null"], pass, 403, "own page"),
        (
            vec![json, "Sec-Fetch-Site: cross-site"],
            pass,
            403,
            "cross-site",
        ),
        // A form post cannot set a JSON content type.
        (vec!["Content-Type: text/plain"], pass, 415, "as JSON"),
        (vec![], pass, 415, "as JSON"),
        (
            vec![json],
            r#"{"grade":"great"}"#,
            400,
            "\"pass\" or \"fail\"",
        ),
        (
            vec![json],
            r#"{"grade":"pass","score":2}"#,
            400,
            "from 0 to 1",
        ),
        (
            vec![json],
            r#"{"grade":"pass","extra":1}"#,
            400,
            "unknown field",
        ),
        (vec![json], "not json", 400, "not valid JSON"),
    ];
    for (headers, body, status, needle) in refused {
        let answer = post(&viewer, "/api/runs/alpha-2/review/h1", &headers, body);
        let (got, message) = answer.error();
        assert_eq!(got, status, "{headers:?} {body}: {message}");
        assert!(message.contains(needle), "{message}");
    }
    let answer = post(&viewer, "/api/runs/alpha-2/review/nope", &[json], pass);
    assert_eq!(answer.error().0, 404);
    let answer = post(&viewer, "/api/runs/zeta/review/h1", &[json], pass);
    assert_eq!(answer.error().0, 404);
    let run = get(&viewer, "/api/runs/alpha-2").json();
    assert_eq!(run["review"]["items"], serde_json::json!([]));
    // GET on the grade route is not a read.
    assert_eq!(get(&viewer, "/api/runs/alpha-2/review/h1").status, 405);
}

/// A grid search of suite "gs": one run per combination (model a, b, c), all started at
/// the same moment. Each case is (hash, output JSON, verdict of "exact").
/// A combination to write: (run id, grid JSON, [(hash, output JSON, verdict)]).
type Combination<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str, &'a str)]);

fn write_grid_search(w: &Writer, combinations: &[Combination]) {
    use crate::store::{CaseRecord, EvaluationRecord, RunRecord, RunStatus};
    for (id, grid, cases) in combinations {
        w.begin_run(RunRecord {
            id: (*id).into(),
            suite_id: "gs".into(),
            kind: "suite".into(),
            started_at: 500.0,
            grid: Some((*grid).into()),
            git_commit: None,
            git_branch: None,
            trials: None,
            shard: None,
            rescored_from: None,
        });
        for (i, (hash, output, verdict)) in cases.iter().enumerate() {
            w.case(CaseRecord {
                run_id: (*id).into(),
                index: i as u32,
                hash: (*hash).into(),
                trial: 0,
                label: Some(format!("label {hash}").into()),
                test_case: format!(r#"{{"q":"{hash}"}}"#).into(),
                output: Some((*output).into()),
                duration_s: 0.25,
                error: None,
            });
            w.evaluation(EvaluationRecord {
                run_id: (*id).into(),
                case_index: i as u32,
                case_hash: (*hash).into(),
                trial: 0,
                evaluator_id: "exact".into(),
                score: Some(if *verdict == "passed" { 1.0 } else { 0.0 }),
                threshold: Some(r#"{"gte":1}"#.into()),
                verdict: (*verdict).into(),
                metadata: None,
                error: None,
                duration_s: 0.01,
            });
        }
        w.finish_run(id, RunStatus::Completed, 502.0);
    }
}

fn grid_store(dir: &TestDir) -> PathBuf {
    let path = store(dir);
    let w = Writer::start(&path).unwrap();
    write_grid_search(
        &w,
        &[
            (
                "g-a",
                r#"{"model":"a"}"#,
                &[
                    ("h1", r#""Paris is the capital""#, "passed"),
                    ("h2", r#""The answer is 4""#, "passed"),
                    ("h3", r#"{"n":1}"#, "passed"),
                ],
            ),
            (
                "g-b",
                r#"{"model":"b"}"#,
                &[
                    ("h1", r#""Paris is the capital""#, "passed"),
                    ("h2", r#""The answer is 5""#, "failed"),
                    ("h3", r#"{"n":1}"#, "passed"),
                ],
            ),
            // c stopped early: it lacks h3.
            (
                "g-c",
                r#"{"model":"c"}"#,
                &[
                    ("h1", r#""Paris is the capital""#, "passed"),
                    ("h2", r#""The answer is 4""#, "passed"),
                ],
            ),
        ],
    );
    w.close().unwrap();
    path
}

fn hashes(answer: &Value) -> Vec<&str> {
    answer["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect()
}

#[test]
fn the_grid_view_shows_each_combinations_output_with_a_word_diff() {
    let dir = TestDir::new("viewer-grid");
    let viewer = Viewer::start(grid_store(&dir), 0).unwrap();

    // Any combination's run opens its search; the first combination is the base.
    let json = get(&viewer, "/api/runs/g-b/grid").json();
    assert_eq!(json["base"], "g-a");
    let combinations: Vec<&str> = json["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["grid"].as_str().unwrap())
        .collect();
    assert_eq!(combinations, ["model=a", "model=b", "model=c"]);
    assert_eq!(json["combinations"][1]["passed"], 2);
    assert_eq!(
        (json["total"].as_u64(), hashes(&json)),
        (Some(3), vec!["h1", "h2", "h3"])
    );

    let h1 = &json["cases"][0];
    assert_eq!(
        (h1["label"].as_str(), h1["differ"].as_bool()),
        (Some("label h1"), Some(false))
    );
    assert_eq!(h1["sides"][2]["text"], "Paris is the capital");

    let h2 = &json["cases"][1];
    assert_eq!(h2["differ"], true);
    let b = &h2["sides"][1];
    assert_eq!(
        (b["run_id"].as_str(), b["status"].as_str()),
        (Some("g-b"), Some("failed"))
    );
    assert_eq!(b["evaluations"][0]["score"], 0.0);
    assert_eq!(
        b["diff"],
        serde_json::json!([["=", "The answer is "], ["-", "4"], ["+", "5"]])
    );
    // The base has no diff; a combination with the base's output is "same", without one.
    assert_eq!(h2["sides"][0]["diff"], Value::Null);
    assert_eq!(
        (h2["sides"][2]["same"].as_bool(), &h2["sides"][2]["diff"]),
        (Some(true), &Value::Null)
    );

    let h3 = &json["cases"][2];
    assert_eq!(
        (h3["differ"].as_bool(), h3["sides"][2]["status"].as_str()),
        (Some(true), Some("missing"))
    );
    assert_eq!(h3["sides"][0]["text"], "{\n  \"n\": 1\n}");

    // Only the cases where the combinations differ; a search; a page; another base.
    let differ = get(&viewer, "/api/runs/g-a/grid?differ=1").json();
    assert_eq!(
        (differ["total"].as_u64(), hashes(&differ)),
        (Some(2), vec!["h2", "h3"])
    );
    let found = get(&viewer, "/api/runs/g-a/grid?q=ANSWER").json();
    assert_eq!(hashes(&found), ["h2"]);
    let page = get(&viewer, "/api/runs/g-a/grid?offset=1&limit=1").json();
    assert_eq!(
        (page["total"].as_u64(), hashes(&page)),
        (Some(3), vec!["h2"])
    );
    let from_b = get(&viewer, "/api/runs/g-a/grid?base=g-b&differ=1").json();
    assert_eq!(from_b["base"], "g-b");
    assert_eq!(
        from_b["cases"][0]["sides"][0]["diff"],
        serde_json::json!([["=", "The answer is "], ["-", "5"], ["+", "4"]])
    );
}

#[test]
fn the_grid_view_refuses_runs_without_a_grid_and_bad_parameters() {
    let dir = TestDir::new("viewer-grid-errors");
    let viewer = Viewer::start(grid_store(&dir), 0).unwrap();
    for (path, status, needle) in [
        ("/api/runs/alpha-1/grid", 400, "not part of a grid search"),
        ("/api/runs/zzz/grid", 404, "zzz"),
        (
            "/api/runs/g-a/grid?base=alpha-1",
            400,
            "base: \"alpha-1\" is not a combination",
        ),
        (
            "/api/runs/g-a/grid?differ=yes",
            400,
            "differ must be 0 or 1",
        ),
        (
            "/api/runs/g-a/grid?limit=0",
            400,
            "limit must be from 1 to 500",
        ),
        (
            "/api/runs/g-a/grid?sort=hash",
            400,
            "unknown parameter sort",
        ),
    ] {
        let (got, message) = get(&viewer, path).error();
        assert_eq!(got, status, "{path}: {message}");
        assert!(message.contains(needle), "{path}: {message}");
    }
}

#[test]
fn compare_rows_come_a_page_at_a_time_changed_first() {
    let dir = TestDir::new("viewer-compare-rows");
    let path = store(&dir);
    let w = Writer::start(&path).unwrap();
    write_run(
        &w,
        "ne-1",
        "ne",
        400.0,
        &[("k", None, vec![("judge", Some(1.0), "passed", None)])],
    );
    write_run(
        &w,
        "ne-2",
        "ne",
        401.0,
        &[("k", Some("Traceback\nValueError: boom"), vec![])],
    );
    w.close().unwrap();
    let viewer = Viewer::start(path, 0).unwrap();

    // alpha-1 -> alpha-2: h1 newly fails, h2 is the same.
    let json = get(&viewer, "/api/compare?suite=qa&rows=changed").json();
    assert_eq!(
        json["counts"],
        serde_json::json!({"changed": 1, "unchanged": 1})
    );
    assert_eq!(json["comparison"]["cases"], serde_json::json!([]));
    assert_eq!(json["comparison"]["removed"], serde_json::json!(["gone"]));
    assert_eq!(json["regressions"][0]["hash"], "h1");
    let rows = &json["rows"];
    assert_eq!(
        (rows["which"].as_str(), rows["total"].as_u64()),
        (Some("changed"), Some(1))
    );
    let h1 = &rows["items"][0];
    assert_eq!(
        (h1["hash"].as_str(), h1["change"].as_str()),
        (Some("h1"), Some("newly_failing"))
    );
    assert_eq!(h1["base"]["score"], 0.9);
    assert_eq!(h1["head"]["verdict"], "failed");
    assert!((h1["delta"].as_f64().unwrap() + 0.7).abs() < 1e-9, "{h1}");
    assert_eq!(h1["base_metadata"], serde_json::json!({"why": "base"}));
    assert_eq!(h1["head_metadata"], serde_json::json!({"why": "head"}));

    let same = get(&viewer, "/api/compare?suite=qa&rows=unchanged&limit=1").json();
    assert_eq!(same["rows"]["items"][0]["hash"], "h2");
    assert_eq!(same["rows"]["items"][0]["change"], "same");
    let all = get(&viewer, "/api/compare?suite=qa&rows=all&offset=1&limit=5").json();
    let hashes: Vec<&str> = all["rows"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hash"].as_str().unwrap())
        .collect();
    assert_eq!(
        (all["rows"]["total"].as_u64(), hashes),
        (Some(2), vec!["h2"])
    );
    // Past the end: an empty page, not an error.
    let past = get(&viewer, "/api/compare?suite=qa&rows=all&offset=99").json();
    assert_eq!(past["rows"]["items"], serde_json::json!([]));

    // fn newly raised: its own row first, then the evaluation head no longer has.
    let json = get(&viewer, "/api/compare?suite=ne&rows=changed").json();
    let items = json["rows"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        (items[0]["change"].as_str(), &items[0]["evaluator_id"]),
        (Some("newly_errored"), &Value::Null)
    );
    assert_eq!(items[0]["head_error"], "Traceback\nValueError: boom");
    assert_eq!(
        (
            items[1]["change"].as_str(),
            items[1]["evaluator_id"].as_str()
        ),
        (Some("removed"), Some("judge"))
    );

    // Without rows the answer is the whole comparison, as before.
    let whole = get(&viewer, "/api/compare?suite=qa").json();
    assert_eq!(whole["comparison"]["cases"].as_array().unwrap().len(), 2);
    assert!(whole.get("rows").is_none() && whole.get("counts").is_none());

    for (path, needle) in [
        (
            "/api/compare?suite=qa&rows=some",
            "rows must be changed, unchanged or all",
        ),
        ("/api/compare?suite=qa&offset=5", "offset pages the rows"),
        (
            "/api/compare?suite=qa&rows=all&limit=0",
            "limit must be from 1 to 1000",
        ),
        (
            "/api/compare?suite=qa&rows=all&offset=x",
            "offset must be a whole number",
        ),
    ] {
        let (status, message) = get(&viewer, path).error();
        assert_eq!(status, 400, "{path}: {message}");
        assert!(message.contains(needle), "{path}: {message}");
    }
}
