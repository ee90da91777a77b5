//! The audio path between the two legs of a loopback call, on one 20 ms clock.
//!
//! Each leg has a port: a mouth (a `Playout` of what the leg says: its stream's audio, or
//! `<Say>`/`<Play>`) and ears (whoever listens to what the leg hears: its streams, a
//! `<Gather>`). Every tick, each mouth gives one frame (silence when it has nothing, as a
//! phone line does), which goes to the other leg's ears; marks reached go back to the
//! stream that sent them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use super::faults::FaultyLine;

use crate::audio::mulaw::SILENCE;
use crate::telephony::media::FRAME_BYTES;
use crate::telephony::playout::{Frame, Playout};

const FRAME: Duration = Duration::from_millis(20);

#[derive(Default)]
struct PortState {
    mouth: Playout,
    /// The stream whose audio the mouth is playing: its marks go back to it.
    marks_to: Option<mpsc::UnboundedSender<String>>,
    ears: Vec<mpsc::UnboundedSender<Frame>>,
    /// The call has ended: listeners hear nothing more.
    closed: bool,
}

/// One leg's side of the bridge.
#[derive(Clone, Default)]
pub struct Port(Arc<Mutex<PortState>>);

impl Port {
    /// A port whose mouth buffers `jitter_ms` of what it is given (0: none).
    pub fn new(jitter_ms: u64) -> Self {
        let state = PortState {
            mouth: Playout::with_jitter_buffer(jitter_ms),
            ..PortState::default()
        };
        Self(Arc::new(Mutex::new(state)))
    }

    /// Times the mouth's audio ran out mid-speech and went on.
    pub fn underruns(&self) -> u64 {
        self.state().mouth.underruns()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PortState> {
        self.0.lock().expect("port lock")
    }

    pub fn say(&self, mulaw: &[u8]) {
        self.state().mouth.push_audio(mulaw);
    }

    pub fn mark(&self, name: &str) {
        self.state().mouth.push_mark(name);
    }

    /// Drops what the mouth has queued; its marks are sent back at once.
    pub fn clear(&self) {
        let mut state = self.state();
        let marks = state.mouth.clear();
        if let Some(to) = &state.marks_to {
            for name in marks {
                let _ = to.send(name);
            }
        }
    }

    /// Milliseconds of audio still queued in the mouth.
    pub fn queued_ms(&self) -> u64 {
        self.state().mouth.queued_ms()
    }

    /// Routes marks reached from now on to `to` (the stream now speaking for this leg).
    pub fn send_marks_to(&self, to: Option<mpsc::UnboundedSender<String>>) {
        self.state().marks_to = to;
    }

    /// A new listener to what this leg hears, until the call ends (then it receives None).
    pub fn listen(&self) -> mpsc::UnboundedReceiver<Frame> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = self.state();
        if !state.closed {
            state.ears.push(tx);
        }
        rx
    }

    /// Ends every listener, and any that comes later: the call is over.
    fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.ears.clear();
    }

    /// Takes this tick's frame and routes the marks reached.
    fn speak(&self) -> Frame {
        let mut state = self.state();
        let tick = state.mouth.tick();
        if let Some(to) = &state.marks_to {
            for name in tick.marks {
                let _ = to.send(name);
            }
        }
        tick.frame.unwrap_or([SILENCE; FRAME_BYTES])
    }

    fn hear(&self, frame: &Frame) {
        // Listeners that went away are dropped.
        self.state().ears.retain(|ear| ear.send(*frame).is_ok());
    }
}

/// Lateness of each tick against the clock, in microseconds.
pub type Lateness = Arc<Mutex<Vec<u64>>>;

/// A call's network faults: the line from `a` to `b`, and from `b` to `a`.
pub type Lines = Arc<Mutex<[Option<FaultyLine>; 2]>>;

/// Runs the clock between `a` and `b` until `ended` turns true, then closes both ports:
/// their listeners (the legs' streams) learn that the call ended from their channel, which
/// they wait on anyway, rather than from a shared signal polled at every wake.
pub async fn run(
    a: Port,
    b: Port,
    mut ended: watch::Receiver<bool>,
    lateness: Option<Lateness>,
    faults: Option<Lines>,
) {
    let mut arrived = Vec::new();
    let mut clock = interval_at(Instant::now() + FRAME, FRAME);
    clock.set_missed_tick_behavior(MissedTickBehavior::Burst);
    loop {
        let deadline = clock.tick().await;
        if super::is_set(&mut ended) {
            break;
        }
        if let Some(lateness) = &lateness {
            let late = Instant::now().saturating_duration_since(deadline);
            lateness
                .lock()
                .expect("lateness lock")
                .push(late.as_micros() as u64);
        }
        let from_a = a.speak();
        let from_b = b.speak();
        let Some(lines) = &faults else {
            b.hear(&from_a);
            a.hear(&from_b);
            continue;
        };
        let mut lines = lines.lock().expect("fault lines lock");
        for (line, frame, ear) in [(0, from_a, &b), (1, from_b, &a)] {
            match &mut lines[line] {
                None => ear.hear(&frame),
                Some(line) => {
                    arrived.clear();
                    line.pass(frame, &mut arrived);
                    for frame in &arrived {
                        ear.hear(frame);
                    }
                }
            }
        }
    }
    a.close();
    b.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_leg_hears_the_other_and_marks_return_once_played() {
        crate::net::runtime::runtime().block_on(async {
            let (a, b) = (Port::default(), Port::default());
            let mut a_hears = a.listen();
            let mut b_hears = b.listen();
            let (marks_tx, mut marks) = mpsc::unbounded_channel();
            a.send_marks_to(Some(marks_tx));
            a.say(&[7; FRAME_BYTES]);
            a.mark("done");
            let (end, ended) = watch::channel(false);
            let clock = tokio::spawn(run(a.clone(), b.clone(), ended, None, None));
            assert_eq!(b_hears.recv().await, Some([7; FRAME_BYTES]));
            assert_eq!(a_hears.recv().await, Some([SILENCE; FRAME_BYTES]));
            assert_eq!(marks.recv().await.as_deref(), Some("done"));
            assert_eq!(b_hears.recv().await, Some([SILENCE; FRAME_BYTES]));
            end.send(true).unwrap();
            clock.await.unwrap();
            // The call is over: listeners, old and new, hear its end.
            while let Some(frame) = b_hears.recv().await {
                assert_eq!(frame, [SILENCE; FRAME_BYTES]);
            }
            assert_eq!(a.listen().recv().await, None);
        });
    }

    #[test]
    fn faults_apply_to_their_direction_only() {
        use crate::telephony::loopback::faults::{FaultDirection, NetworkFaults};
        crate::net::runtime::runtime().block_on(async {
            let (a, b) = (Port::default(), Port::default());
            let (mut a_hears, mut b_hears) = (a.listen(), b.listen());
            let faults = NetworkFaults {
                loss: 0.5,
                seed: 2,
                direction: FaultDirection::ToCallee,
                ..NetworkFaults::default()
            };
            let lines: Lines = Arc::new(Mutex::new(faults.lines()));
            let (end, ended) = watch::channel(false);
            let clock = tokio::spawn(run(a, b, ended, None, Some(lines.clone())));
            tokio::time::sleep(Duration::from_millis(400)).await;
            end.send(true).unwrap();
            clock.await.unwrap();
            let count = |rx: &mut mpsc::UnboundedReceiver<Frame>| {
                let mut n = 0u64;
                while rx.try_recv().is_ok() {
                    n += 1;
                }
                n
            };
            let lines = lines.lock().unwrap();
            let to_b = lines[0].as_ref().unwrap().report();
            assert!(lines[1].is_none());
            assert!(to_b.dropped > 0);
            // b heard every frame a sent but the ones lost; a heard all of b's.
            assert_eq!(count(&mut b_hears), to_b.frames - to_b.dropped);
            assert_eq!(count(&mut a_hears), to_b.frames);
        });
    }

    #[test]
    fn clear_sends_pending_marks_back_at_once() {
        let port = Port::default();
        let (marks_tx, mut marks) = mpsc::unbounded_channel();
        port.send_marks_to(Some(marks_tx));
        port.say(&[1; 8000]);
        port.mark("m");
        assert_eq!(port.queued_ms(), 1000);
        port.clear();
        assert_eq!(marks.try_recv().as_deref(), Ok("m"));
        assert_eq!(port.queued_ms(), 0);
    }
}
