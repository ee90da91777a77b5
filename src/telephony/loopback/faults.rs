//! Network faults on the loopback bridge: what a lossy, jittery network does to the 20 ms
//! frames of a call, seeded so a call's faults can be replayed.
//!
//! A `FaultyLine` sits on one direction of the bridge. Each clock tick it is given the frame
//! sent that tick and returns the frames that arrive that tick: a frame may be lost (a
//! whole frame, as an RTP packet is), arrive late (a fixed delay plus random jitter, both in
//! whole ticks of the bridge's clock), arrive twice, or arrive after the frame sent after it.
//! Every frame takes the same four draws from the line's generator whatever happens to it,
//! so the frames lost depend only on the seed and the rates, not on the audio.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::telephony::playout::Frame;

/// Milliseconds per frame (and per tick of the bridge's clock).
const FRAME_MS: u64 = 20;

/// Lost frames whose indices a report keeps (a 10-minute call has 30,000 frames).
const MAX_DROPPED_INDICES: usize = 10_000;

/// Which way faults apply: what the caller's leg says (heard by the callee), what the
/// callee's says, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultDirection {
    #[default]
    Both,
    ToCallee,
    ToCaller,
}

/// The faults of one call. Rates are per frame, in [0, 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkFaults {
    /// Share of frames lost.
    pub loss: f64,
    /// Each frame arrives up to this much later than the fixed delay (uniformly drawn,
    /// rounded to whole frames); frames keep their order.
    pub jitter_ms: u64,
    /// Share of frames that arrive after the frame sent after them.
    pub reorder: f64,
    /// Share of frames that arrive twice.
    pub duplicate: f64,
    /// Added to every frame's travel (rounded to whole frames).
    pub delay_ms: u64,
    pub seed: u64,
    pub direction: FaultDirection,
}

impl NetworkFaults {
    /// Checks the rates and delays; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("loss", self.loss),
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
        ] {
            if !(0.0..1.0).contains(&rate) {
                return Err(format!(
                    "network faults: {name} must be a share of frames in [0, 1), not {rate}"
                ));
            }
        }
        for (name, ms) in [("jitter_ms", self.jitter_ms), ("delay_ms", self.delay_ms)] {
            if ms > 60_000 {
                return Err(format!(
                    "network faults: {name} must be at most 60000 ms, not {ms}"
                ));
            }
        }
        Ok(())
    }

    /// The lines of a call: caller to callee, callee to caller (None: no faults that way).
    pub fn lines(&self) -> [Option<FaultyLine>; 2] {
        let to_callee = self.direction != FaultDirection::ToCaller;
        let to_caller = self.direction != FaultDirection::ToCallee;
        [
            to_callee.then(|| FaultyLine::new(self.clone(), 0)),
            to_caller.then(|| FaultyLine::new(self.clone(), 1)),
        ]
    }
}

/// SplitMix64: a small, fast generator whose every seed (0 included) gives a good stream.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a line did to the frames sent through it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LineReport {
    /// Frames sent into the line.
    pub frames: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Frames that jitter made later than the fixed delay.
    pub jittered: u64,
    /// The fixed delay in effect (whole frames).
    pub delay_ms: u64,
    /// The most jitter added to one frame.
    pub max_jitter_ms: u64,
    /// Indices (from 0, the call's first tick) of the frames lost, the first 10,000.
    pub dropped_frames: Vec<u64>,
}

/// One direction of a call's bridge under faults.
#[derive(Debug)]
pub struct FaultyLine {
    faults: NetworkFaults,
    rng: SplitMix64,
    delay_ticks: u64,
    /// Frames on their way, by (arrival tick, order sent in).
    in_flight: BTreeMap<(u64, u64), Frame>,
    order: u64,
    /// The latest arrival tick given so far: jitter does not reorder.
    last_due: u64,
    /// A frame held back to arrive after the next one, with its copies.
    held: Option<(Frame, u32)>,
    report: LineReport,
}

impl FaultyLine {
    /// `stream` tells the directions of one call apart, so they draw different faults.
    pub fn new(faults: NetworkFaults, stream: u64) -> Self {
        let mut seeder = SplitMix64(faults.seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let rng = SplitMix64(seeder.next_u64());
        let delay_ticks = (faults.delay_ms + FRAME_MS / 2) / FRAME_MS;
        Self {
            rng,
            delay_ticks,
            in_flight: BTreeMap::new(),
            order: 0,
            last_due: 0,
            held: None,
            report: LineReport {
                delay_ms: delay_ticks * FRAME_MS,
                ..LineReport::default()
            },
            faults,
        }
    }

    pub fn report(&self) -> &LineReport {
        &self.report
    }

    /// Sends this tick's frame and appends the frames that arrive this tick to `arrived`.
    pub fn pass(&mut self, frame: Frame, arrived: &mut Vec<Frame>) {
        let tick = self.report.frames;
        self.report.frames += 1;
        // Always four draws per frame: what happens to one frame does not shift the next's.
        let (lose, jitter, reorder, duplicate) = (
            self.rng.next_f64(),
            self.rng.next_f64(),
            self.rng.next_f64(),
            self.rng.next_f64(),
        );
        if lose < self.faults.loss {
            self.report.dropped += 1;
            if self.report.dropped_frames.len() < MAX_DROPPED_INDICES {
                self.report.dropped_frames.push(tick);
            }
        } else {
            let jitter_ms = (jitter * (self.faults.jitter_ms + 1) as f64) as u64;
            let jitter_ticks = (jitter_ms + FRAME_MS / 2) / FRAME_MS;
            let due = (tick + self.delay_ticks + jitter_ticks).max(self.last_due);
            if due > tick + self.delay_ticks {
                self.report.jittered += 1;
                let added = (due - tick - self.delay_ticks) * FRAME_MS;
                self.report.max_jitter_ms = self.report.max_jitter_ms.max(added);
            }
            self.last_due = due;
            let copies = if duplicate < self.faults.duplicate {
                self.report.duplicated += 1;
                2
            } else {
                1
            };
            if reorder < self.faults.reorder && self.held.is_none() {
                self.report.reordered += 1;
                self.held = Some((frame, copies));
            } else {
                self.send(due, frame, copies);
                if let Some((held, copies)) = self.held.take() {
                    self.send(due, held, copies);
                }
            }
        }
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > tick {
                break;
            }
            arrived.push(entry.remove());
        }
    }

    fn send(&mut self, due: u64, frame: Frame, copies: u32) {
        for _ in 0..copies {
            self.in_flight.insert((due, self.order), frame);
            self.order += 1;
        }
    }
}

/// What the faults of a call did, seen from one leg: to what it sent and what it heard
/// (None: no faults that way).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultReport {
    pub sent: Option<LineReport>,
    pub heard: Option<LineReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame that says which tick sent it.
    fn numbered(i: u64) -> Frame {
        let mut frame = [0u8; 160];
        frame[..8].copy_from_slice(&i.to_le_bytes());
        frame
    }

    fn number(frame: &Frame) -> u64 {
        u64::from_le_bytes(frame[..8].try_into().unwrap())
    }

    /// Runs `n` numbered frames through a line; returns what arrived, tick by tick.
    fn run(faults: &NetworkFaults, n: u64) -> (Vec<Vec<u64>>, LineReport) {
        let mut line = FaultyLine::new(faults.clone(), 0);
        let mut ticks = Vec::new();
        for i in 0..n {
            let mut arrived = Vec::new();
            line.pass(numbered(i), &mut arrived);
            ticks.push(arrived.iter().map(number).collect());
        }
        (ticks, line.report().clone())
    }

    fn within(count: u64, n: u64, rate: f64) {
        let share = count as f64 / n as f64;
        assert!(
            (share - rate).abs() < rate * 0.15,
            "share {share} is not within 15% of {rate}"
        );
    }

    #[test]
    fn no_faults_pass_every_frame_on_its_tick() {
        let (ticks, report) = run(&NetworkFaults::default(), 100);
        for (i, arrived) in ticks.iter().enumerate() {
            assert_eq!(arrived, &vec![i as u64]);
        }
        assert_eq!(report.dropped + report.duplicated + report.reordered, 0);
    }

    #[test]
    fn rates_hold_over_many_frames() {
        let faults = NetworkFaults {
            loss: 0.05,
            duplicate: 0.02,
            reorder: 0.03,
            seed: 11,
            ..NetworkFaults::default()
        };
        let n = 100_000;
        let (ticks, report) = run(&faults, n);
        within(report.dropped, n, 0.05);
        within(report.duplicated, n * 95 / 100, 0.02);
        within(report.reordered, n * 95 / 100, 0.03);
        assert_eq!(report.dropped_frames.len() as u64, report.dropped);
        // Every frame not lost arrives (at most one is still held back at the end), twice
        // when duplicated.
        let arrived: u64 = ticks.iter().map(|t| t.len() as u64).sum();
        let expected = n - report.dropped + report.duplicated;
        assert!(expected - arrived <= 2, "{arrived} of {expected} arrived");
    }

    #[test]
    fn lost_frames_are_whole_frames_and_never_arrive() {
        let faults = NetworkFaults {
            loss: 0.1,
            seed: 3,
            ..NetworkFaults::default()
        };
        let (ticks, report) = run(&faults, 2_000);
        let arrived: Vec<u64> = ticks.into_iter().flatten().collect();
        for lost in &report.dropped_frames {
            assert!(!arrived.contains(lost));
        }
        assert_eq!(arrived.len() as u64 + report.dropped, 2_000);
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_another_seed_others() {
        let faults = NetworkFaults {
            loss: 0.05,
            jitter_ms: 40,
            reorder: 0.01,
            duplicate: 0.01,
            seed: 7,
            ..NetworkFaults::default()
        };
        let (ticks_a, a) = run(&faults, 5_000);
        let (ticks_b, b) = run(&faults, 5_000);
        assert_eq!(a, b);
        assert_eq!(ticks_a, ticks_b);
        let (_, c) = run(
            &NetworkFaults {
                seed: 8,
                ..faults.clone()
            },
            5_000,
        );
        assert_ne!(a.dropped_frames, c.dropped_frames);
        // The two directions of one call draw their own faults.
        let mut other = FaultyLine::new(faults, 1);
        for i in 0..5_000 {
            other.pass(numbered(i), &mut Vec::new());
        }
        assert_ne!(a.dropped_frames, other.report().dropped_frames);
    }

    #[test]
    fn the_frames_lost_do_not_depend_on_the_other_faults() {
        let lossy = NetworkFaults {
            loss: 0.05,
            seed: 5,
            ..NetworkFaults::default()
        };
        let (_, alone) = run(&lossy, 3_000);
        let (_, with_more) = run(
            &NetworkFaults {
                jitter_ms: 60,
                duplicate: 0.1,
                reorder: 0.1,
                ..lossy
            },
            3_000,
        );
        assert_eq!(alone.dropped_frames, with_more.dropped_frames);
    }

    #[test]
    fn a_reordered_frame_arrives_right_after_the_next_one() {
        let faults = NetworkFaults {
            reorder: 0.05,
            seed: 1,
            ..NetworkFaults::default()
        };
        let (ticks, report) = run(&faults, 2_000);
        assert!(report.reordered > 50);
        let arrived: Vec<u64> = ticks.into_iter().flatten().collect();
        // In order, but for adjacent pairs swapped: frame k+1 just before frame k.
        let (mut swaps, mut i, mut expected) = (0, 0, 0);
        while i < arrived.len() {
            if arrived[i] == expected {
                (i, expected) = (i + 1, expected + 1);
            } else {
                assert_eq!(arrived[i..i + 2], [expected + 1, expected], "at {i}");
                swaps += 1;
                (i, expected) = (i + 2, expected + 2);
            }
        }
        assert_eq!(swaps, report.reordered - u64::from(arrived.len() < 2_000));
    }

    #[test]
    fn delay_and_jitter_make_frames_late_but_keep_their_order() {
        let faults = NetworkFaults {
            delay_ms: 100,
            jitter_ms: 60,
            seed: 9,
            ..NetworkFaults::default()
        };
        let (ticks, report) = run(&faults, 1_000);
        assert_eq!(report.delay_ms, 100);
        // Nothing arrives before the fixed delay.
        assert!(ticks[..5].iter().all(Vec::is_empty));
        assert_eq!(ticks[5].first(), Some(&0));
        let mut arrived_at = vec![0u64; 1_000];
        for (tick, frames) in ticks.iter().enumerate() {
            for &frame in frames {
                arrived_at[frame as usize] = tick as u64;
            }
        }
        let order: Vec<u64> = ticks.iter().flatten().copied().collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        for (frame, &tick) in arrived_at.iter().enumerate().take(990) {
            let late = tick - frame as u64;
            assert!((5..=5 + 3).contains(&late), "frame {frame} late {late}");
        }
        assert!(report.jittered > 300, "{report:?}");
        assert!(report.max_jitter_ms >= 60);
    }

    #[test]
    fn directions_and_bad_rates() {
        let only = NetworkFaults {
            direction: FaultDirection::ToCaller,
            ..NetworkFaults::default()
        };
        let [to_callee, to_caller] = only.lines();
        assert!(to_callee.is_none() && to_caller.is_some());
        let bad = NetworkFaults {
            loss: 1.5,
            ..NetworkFaults::default()
        };
        assert!(bad.validate().unwrap_err().contains("loss"));
        let parsed: NetworkFaults =
            serde_json::from_str(r#"{"loss": 0.05, "seed": 7, "direction": "to_callee"}"#).unwrap();
        assert_eq!(parsed.direction, FaultDirection::ToCallee);
        assert!(serde_json::from_str::<NetworkFaults>(r#"{"los": 0.05}"#).is_err());
    }
}
