use super::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn log_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trialrun-worker-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Python server on PORT: `behaviour` runs first (e.g. ignoring SIGTERM).
fn launch(name: &str, dir: &std::path::Path, behaviour: &str, ready: Ready) -> Launch {
    let port = free_port().unwrap();
    let script = format!(
        "import os, signal, sys, http.server\n{behaviour}\nprint('listening', flush=True)\n\
         class H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response(200 if self.path == '/health' else 404); self.end_headers()\n\
         http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n"
    );
    Launch {
        name: name.into(),
        port,
        argv: vec!["python3".into(), "-c".into(), script],
        cwd: dir.to_path_buf(),
        env: BTreeMap::from([("PORT".into(), port.to_string())]),
        log_path: dir.join(format!("{name}.log")),
        ready,
        ready_timeout: Duration::from_secs(10),
        stop_grace: Duration::from_secs(2),
    }
}

fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
}

#[test]
fn workers_start_in_parallel_answer_and_stop_without_leftovers() {
    let dir = log_dir("parallel");
    let launches = vec![
        launch("a", &dir, "", Ready::Tcp),
        launch("b", &dir, "", Ready::Http("/health".into())),
    ];
    let ports: Vec<u16> = launches.iter().map(|l| l.port).collect();
    let mut workers = start_all(launches).unwrap();
    let pids: Vec<u32> = workers.iter().map(|w| w.pid().unwrap()).collect();
    for port in &ports {
        probe(
            SocketAddr::from(([127, 0, 0, 1], *port)),
            &Ready::Http("/health".into()),
        )
        .unwrap();
    }
    for w in workers.iter_mut() {
        w.check_alive().unwrap();
    }
    stop_all(&mut workers);
    assert!(pids.iter().all(|p| !alive(*p)));
    for port in ports {
        check_port_free("x", port).unwrap();
    }
    assert!(std::fs::read_to_string(dir.join("a.log"))
        .unwrap()
        .contains("listening"));
}

#[test]
fn a_busy_port_is_refused_before_anything_starts() {
    let dir = log_dir("busy");
    let taken = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let mut l = launch("busy", &dir, "", Ready::Tcp);
    l.port = taken.local_addr().unwrap().port();
    let other = launch("other", &dir, "", Ready::Tcp);
    let err = start_all(vec![other.clone(), l]).unwrap_err();
    assert_eq!(err.kind, crate::steps::StepsErrorKind::Worker);
    assert!(
        err.message.contains("worker 'busy'") && err.message.contains("is busy"),
        "{err}"
    );
    assert!(!other.log_path.exists(), "no worker was started");
}

#[test]
fn a_worker_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = log_dir("sigterm");
    let mut l = launch(
        "stubborn",
        &dir,
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
        Ready::Tcp,
    );
    l.stop_grace = Duration::from_millis(300);
    let mut workers = start_all(vec![l]).unwrap();
    let pid = workers[0].pid().unwrap();
    let t = Instant::now();
    stop_all(&mut workers);
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3));
    assert!(!alive(pid));
}

#[test]
fn a_shell_worker_and_its_children_are_stopped_as_a_group() {
    let dir = log_dir("group");
    let port = free_port().unwrap();
    // The shell starts a grandchild that ignores SIGTERM and holds the port.
    let l = Launch {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("python3 -c 'import signal,socket,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); s=socket.socket(); s.bind((\"127.0.0.1\",{port})); s.listen(); time.sleep(60)' ; echo done"),
        ],
        port,
        stop_grace: Duration::from_millis(300),
        ..launch("group", &dir, "", Ready::Tcp)
    };
    let workers = start_all(vec![l]).unwrap();
    drop(workers); // Drop stops the group too
    check_port_free("group", port).unwrap();
}

#[test]
fn a_worker_that_exits_early_is_reported_with_its_log_prefixed() {
    let dir = log_dir("early");
    let l = launch(
        "crashy",
        &dir,
        "print('bad config value'); sys.exit(4)",
        Ready::Tcp,
    );
    let t = Instant::now();
    let err = start_all(vec![l]).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "reported at once, not at the timeout"
    );
    assert!(
        err.message
            .contains("worker 'crashy' exited (exit status: 4) before it was ready"),
        "{err}"
    );
    assert!(err.message.contains("[crashy] bad config value"), "{err}");
}

#[test]
fn readiness_times_out_naming_the_probe() {
    let dir = log_dir("timeout");
    let mut l = launch("slow", &dir, "", Ready::Http("/nothing-here".into()));
    l.ready_timeout = Duration::from_millis(800);
    let err = start_all(vec![l.clone()]).unwrap_err();
    assert!(
        err.message
            .contains("worker 'slow' was not ready within 0.8 s"),
        "{err}"
    );
    assert!(err.message.contains("/nothing-here: answered 404"), "{err}");
    check_port_free("slow", l.port).unwrap(); // stopped after the failure
}

#[test]
fn a_crash_mid_run_is_seen_by_check_alive() {
    let dir = log_dir("crash");
    let mut workers = start_all(vec![launch("w", &dir, "", Ready::Tcp)]).unwrap();
    let pid = workers[0].pid().unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        if let Err(e) = workers[0].check_alive() {
            break e;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(POLL);
    };
    assert!(
        err.message.contains("worker 'w' exited (signal: 9")
            && err.message.contains("[w] listening"),
        "{err}"
    );
}

#[test]
fn a_group_whose_members_died_is_not_waited_for_until_they_are_reaped() {
    // sh's child dies from the SIGTERM too, but it is reparented to init, which may reap
    // it late (or never, in a container without an init): stop must not wait for that.
    let dir = log_dir("zombie");
    let port = free_port().unwrap();
    let l = Launch {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("python3 -m http.server {port} --bind 127.0.0.1; echo after"),
        ],
        port,
        stop_grace: Duration::from_secs(5),
        ..launch("zombie", &dir, "", Ready::Tcp)
    };
    let mut workers = start_all(vec![l]).unwrap();
    let t = Instant::now();
    stop_all(&mut workers);
    // Well under the 5 s grace (with room for a loaded machine): the group was not waited for.
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "stopped in {:?}",
        t.elapsed()
    );
    check_port_free("zombie", port).unwrap();
}

#[test]
fn a_chosen_port_is_never_one_promised_to_another_process() {
    // The system may hand out a port again until it is bound: as it did to the embedded
    // database, with a worker's port chosen but not yet started.
    let mut offered = [40111, 40111, 40112].into_iter();
    let port = first_not_in(|| Ok(offered.next().unwrap()), &[40111]).unwrap();
    assert_eq!(port, 40112);
    let refused = first_not_in(|| Ok(40111), &[40111]).unwrap_err();
    assert!(
        refused
            .message
            .contains("no free port on 127.0.0.1 besides [40111]"),
        "{}",
        refused.message
    );
}

#[test]
fn chosen_ports_are_free_and_below_the_ephemeral_range() {
    let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
    for &port in &ports {
        assert!(
            (FIRST_PICKED_PORT..ephemeral_start()).contains(&port),
            "{port}"
        );
        check_port_free("x", port).unwrap();
    }
    // Picked at random, not one after another.
    assert!(ports.iter().any(|&p| p != ports[0]), "{ports:?}");
}
