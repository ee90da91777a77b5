//! Audio waiting to be played on one side of a call, with marks between it, taken out one
//! 20 ms frame per clock tick.
//!
//! Both ends of a stream use it: the call server paces what it sends to Twilio with it, and
//! the loopback carrier plays what an agent sent with it, echoing each mark once the audio
//! before it has played, and dropping the queue on `clear` as Twilio does.
//!
//! The carrier's playouts are jitter buffers, as Twilio buffers the media a stream sends and
//! plays it out in real time: audio that arrives in bursts (a 16 kHz pipeline resampling to
//! 8 kHz sends 0, 0, then 758 bytes) is played as one continuous run of bytes, a partial
//! frame waiting for the bytes that complete it rather than being padded with silence, and
//! each stretch of speech starts once a little is buffered. Underruns, where the audio ran
//! out mid-speech and went on shortly after (a gap the listener hears), are counted.

use std::collections::VecDeque;

use super::media::FRAME_BYTES;

use crate::audio::mulaw::SILENCE;

/// One 20 ms frame of mu-law audio.
pub type Frame = [u8; FRAME_BYTES];

/// What one tick takes out of a playout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tick {
    /// Marks whose audio has finished playing (it was taken out by earlier ticks).
    pub marks: Vec<String>,
    /// The frame to play during this tick; None when nothing is queued.
    pub frame: Option<Frame>,
}

/// A queue of mu-law audio and marks.
///
/// Audio is one run of bytes rather than a buffer per frame: a call may queue minutes of
/// audio at once, and every frame taken out would otherwise be an allocation freed cold.
/// Its front is always on a frame boundary; only its tail may be a partial frame, completed
/// by the next audio or padded with silence when a mark or the clock needs it.
#[derive(Debug, Default)]
pub struct Playout {
    audio: VecDeque<u8>,
    /// Each mark with the position it is reached at: the bytes played before it.
    marks: VecDeque<(u64, String)>,
    /// Bytes taken out so far: silence padding included, except in a jitter buffer (whose
    /// marks are placed between audio bytes, not padded to a frame).
    played: u64,
    jitter: Option<Jitter>,
}

/// A gap after which audio that goes on counts as an underrun, rather than as the next
/// stretch of speech: 200 ms (the gaps heard from bursty pipelines were 95-113 ms).
const UNDERRUN_WINDOW_TICKS: u32 = 10;

#[derive(Debug, Default)]
struct Jitter {
    /// Ticks a stretch of speech is buffered before it plays (unless its end is marked, or
    /// twice as much is already queued: the sender is well ahead of the clock).
    hold_ticks: u32,
    playing: bool,
    /// Ticks a stretch has waited to start.
    waiting: Option<u32>,
    /// Ticks since the audio ran out mid-speech, while it may still go on.
    dry_for: Option<u32>,
    underruns: u64,
}

impl Playout {
    pub fn new() -> Self {
        Self::default()
    }

    /// A jitter buffer `depth_ms` deep (rounded to whole 20 ms frames; 0 is none).
    pub fn with_jitter_buffer(depth_ms: u64) -> Self {
        let ticks = depth_ms.div_ceil(20) as u32;
        Self {
            jitter: (ticks > 0).then(|| Jitter {
                hold_ticks: ticks,
                ..Jitter::default()
            }),
            ..Self::default()
        }
    }

    /// Times the audio ran out mid-speech and went on within 200 ms (jitter buffers only).
    pub fn underruns(&self) -> u64 {
        self.jitter.as_ref().map_or(0, |j| j.underruns)
    }

    /// Queues audio behind what is already queued.
    pub fn push_audio(&mut self, mulaw: &[u8]) {
        self.audio.extend(mulaw);
    }

    /// Queues a mark: it is reached once all audio queued before it has played.
    pub fn push_mark(&mut self, name: &str) {
        if self.jitter.is_none() {
            self.pad_to_frame();
        }
        let at = self.played + self.audio.len() as u64;
        self.marks.push_back((at, name.to_string()));
    }

    /// Drops all queued audio; returns the dropped marks (Twilio echoes them on `clear`).
    pub fn clear(&mut self) -> Vec<String> {
        self.audio.clear();
        if let Some(jitter) = &mut self.jitter {
            (jitter.playing, jitter.waiting, jitter.dry_for) = (false, None, None);
        }
        self.marks.drain(..).map(|(_, name)| name).collect()
    }

    /// One clock tick: the marks now reached, then the next frame to play.
    pub fn tick(&mut self) -> Tick {
        let mut tick = Tick::default();
        while self.marks.front().is_some_and(|(at, _)| *at <= self.played) {
            tick.marks
                .extend(self.marks.pop_front().map(|(_, name)| name));
        }
        if self.jitter.is_some() {
            tick.frame = self.buffered_frame();
        } else if !self.audio.is_empty() {
            tick.frame = Some(self.take_frame());
            self.played += FRAME_BYTES as u64;
        }
        tick
    }

    /// Up to a frame of audio from the front, padded with silence.
    fn take_frame(&mut self) -> Frame {
        let mut frame = [SILENCE; FRAME_BYTES];
        let take = self.audio.len().min(FRAME_BYTES);
        let (front, back) = self.audio.as_slices();
        let from_front = front.len().min(take);
        frame[..from_front].copy_from_slice(&front[..from_front]);
        frame[from_front..take].copy_from_slice(&back[..take - from_front]);
        self.audio.drain(..take);
        frame
    }

    /// A jitter buffer's tick: whole frames while speech plays. When it runs short, its
    /// last partial frame is played padded (the sender has stopped, or is late: then the
    /// gap is an underrun); the next audio is buffered again before it plays.
    fn buffered_frame(&mut self) -> Option<Frame> {
        let queued = self.audio.len();
        // A mark behind the last byte: the sender has finished this stretch of speech.
        let end_marked = self
            .marks
            .back()
            .is_some_and(|(at, _)| *at >= self.played + queued as u64);
        let jitter = self.jitter.as_mut().expect("a jitter buffer");
        if let Some(dry) = &mut jitter.dry_for {
            *dry += 1;
            if *dry > UNDERRUN_WINDOW_TICKS {
                jitter.dry_for = None;
            }
        }
        if !jitter.playing {
            if queued == 0 {
                jitter.waiting = None;
                return None;
            }
            if jitter.dry_for.take().is_some() {
                jitter.underruns += 1; // it went on soon after: a gap heard mid-speech
            }
            let waited = jitter.waiting.get_or_insert(0);
            let ahead = queued >= 2 * jitter.hold_ticks as usize * FRAME_BYTES;
            if !(ahead || *waited >= jitter.hold_ticks || end_marked) {
                *waited += 1;
                return None;
            }
            jitter.waiting = None;
            jitter.playing = true;
        }
        if queued < FRAME_BYTES {
            jitter.playing = false;
            if !end_marked {
                jitter.dry_for = Some(0);
            }
            if queued == 0 {
                return None;
            }
        }
        self.played += queued.min(FRAME_BYTES) as u64;
        Some(self.take_frame())
    }

    /// Milliseconds of audio still queued.
    pub fn queued_ms(&self) -> u64 {
        self.audio.len() as u64 / 8
    }

    /// Whether nothing (audio or mark) is queued.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.audio.is_empty() && self.marks.is_empty()
    }

    /// Pads a partial last frame with silence, so that what follows starts a frame.
    fn pad_to_frame(&mut self) {
        let partial = self.audio.len() % FRAME_BYTES;
        if partial > 0 {
            self.audio
                .resize(self.audio.len() + FRAME_BYTES - partial, SILENCE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_comes_out_a_frame_per_tick_with_the_tail_padded() {
        let mut playout = Playout::new();
        playout.push_audio(&[1; 400]); // 2.5 frames
        assert_eq!(playout.queued_ms(), 50);
        let frames: Vec<Frame> = (0..4).filter_map(|_| playout.tick().frame).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[..2].iter().all(|f| f == &[1; FRAME_BYTES]));
        assert_eq!(&frames[2][..80], &[1; 80][..]);
        assert_eq!(&frames[2][80..], &[SILENCE; 80][..]);
        assert!(playout.is_empty());
    }

    #[test]
    fn pieces_of_audio_join_into_whole_frames() {
        let mut playout = Playout::new();
        playout.push_audio(&[1; 100]);
        playout.push_audio(&[2; 100]);
        let first = playout.tick().frame.unwrap();
        assert_eq!(&first[..100], &[1; 100][..]);
        assert_eq!(&first[100..], &[2; 60][..]);
    }

    #[test]
    fn audio_stays_in_order_as_the_queue_wraps_around() {
        let mut playout = Playout::new();
        let audio: Vec<u8> = (0..FRAME_BYTES * 40).map(|i| (i % 251) as u8).collect();
        let mut played = Vec::new();
        for piece in audio.chunks(70) {
            playout.push_audio(piece);
            if playout.queued_ms() >= 60 {
                played.extend(playout.tick().frame.unwrap());
            }
        }
        while let Some(frame) = playout.tick().frame {
            played.extend(frame);
        }
        assert_eq!(played, audio);
    }

    #[test]
    fn a_mark_is_reached_on_the_tick_after_its_audio_played() {
        let mut playout = Playout::new();
        playout.push_audio(&[1; FRAME_BYTES * 2]);
        playout.push_mark("greeting");
        playout.push_audio(&[2; FRAME_BYTES]);
        assert!(playout.tick().marks.is_empty());
        assert!(playout.tick().marks.is_empty());
        let third = playout.tick();
        assert_eq!(third.marks, vec!["greeting".to_string()]);
        assert_eq!(third.frame, Some([2; FRAME_BYTES]));
        assert_eq!(playout.tick(), Tick::default());
    }

    #[test]
    fn a_mark_pads_a_partial_frame_and_the_audio_after_it_starts_a_frame() {
        let mut playout = Playout::new();
        playout.push_audio(&[1; 80]);
        playout.push_mark("half");
        playout.push_audio(&[2; FRAME_BYTES]);
        assert_eq!(playout.queued_ms(), 40);
        let first = playout.tick();
        assert!(first.marks.is_empty());
        let frame = first.frame.unwrap();
        assert_eq!(
            (&frame[..80], &frame[80..]),
            (&[1; 80][..], &[SILENCE; 80][..])
        );
        let second = playout.tick();
        assert_eq!(second.marks, vec!["half".to_string()]);
        assert_eq!(second.frame, Some([2; FRAME_BYTES]));
    }

    #[test]
    fn a_mark_alone_is_reached_at_once() {
        let mut playout = Playout::new();
        playout.push_mark("m");
        assert_eq!(playout.tick().marks, vec!["m".to_string()]);
    }

    #[test]
    fn clear_drops_audio_and_hands_back_the_marks() {
        let mut playout = Playout::new();
        playout.push_audio(&[1; 1000]);
        playout.push_mark("a");
        playout.push_audio(&[1; 10]);
        playout.push_mark("b");
        assert_eq!(playout.clear(), vec!["a".to_string(), "b".to_string()]);
        assert!(playout.is_empty());
        assert_eq!(playout.queued_ms(), 0);
        assert_eq!(playout.tick(), Tick::default());
    }

    /// Plays what a sender pushes tick by tick (`pushes[i]` before tick i) and some ticks
    /// more; returns everything played, silence included.
    fn play(playout: &mut Playout, pushes: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for tick in 0..pushes.len() + 40 {
            if let Some(bytes) = pushes.get(tick) {
                playout.push_audio(bytes);
            }
            out.extend(playout.tick().frame.unwrap_or([SILENCE; FRAME_BYTES]));
        }
        out
    }

    /// Runs of silence between the first and the last byte of audio.
    fn gaps(out: &[u8]) -> usize {
        let first = out.iter().position(|&b| b != SILENCE).unwrap();
        let last = out.iter().rposition(|&b| b != SILENCE).unwrap();
        let speech = &out[first..=last];
        speech
            .windows(2)
            .filter(|w| w[0] != SILENCE && w[1] == SILENCE)
            .count()
    }

    /// A 16 kHz pipeline's speech at 8 kHz: 758-byte blocks as real time makes them, each
    /// sent up to 60 ms late (a seeded generator: the same on every run), 3 s in all.
    fn bursty_speech() -> Vec<Vec<u8>> {
        let mut pushes = vec![Vec::new(); 160];
        let (mut due, mut seed) = (0usize, 7u32);
        for tick in 0..150 {
            due += FRAME_BYTES;
            if due >= 758 {
                due -= 758;
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let late = (seed >> 16) as usize % 4; // 0 to 60 ms
                pushes[tick + late].extend([1u8; 758]);
            }
        }
        pushes
    }

    #[test]
    fn a_jitter_buffer_plays_bursty_speech_without_gaps() {
        let pushes = bursty_speech();
        let sent: usize = pushes.iter().map(Vec::len).sum();
        let mut buffered = Playout::with_jitter_buffer(80);
        let out = play(&mut buffered, &pushes);
        assert_eq!(out.iter().filter(|&&b| b == 1).count(), sent);
        assert_eq!(gaps(&out), 0);
        assert_eq!(buffered.underruns(), 0);
        // Played as it came, each partial frame padded, the same speech has gaps.
        let unbuffered = gaps(&play(&mut Playout::new(), &pushes));
        assert!(unbuffered >= 3, "{unbuffered}");
    }

    #[test]
    fn a_stall_mid_speech_is_an_underrun_and_a_pause_is_not() {
        let mut pushes = vec![vec![1u8; FRAME_BYTES]; 20];
        pushes.extend(vec![Vec::new(); 8]); // 160 ms with nothing: a stall
        pushes.extend(vec![vec![1u8; FRAME_BYTES]; 20]);
        pushes.extend(vec![Vec::new(); 30]); // 600 ms: the next stretch of speech
        pushes.extend(vec![vec![1u8; FRAME_BYTES]; 20]);
        let mut playout = Playout::with_jitter_buffer(80);
        let out = play(&mut playout, &pushes);
        assert_eq!(out.iter().filter(|&&b| b == 1).count(), 60 * FRAME_BYTES);
        assert_eq!(playout.underruns(), 1);
    }

    #[test]
    fn in_a_jitter_buffer_a_mark_ends_a_stretch_at_once_and_pads_nothing_mid_speech() {
        let mut playout = Playout::with_jitter_buffer(80);
        playout.push_audio(&[1; 100]);
        playout.push_mark("mid");
        playout.push_audio(&[2; 100]);
        playout.push_mark("end");
        // The end is marked: no buffering wait, and the two pieces join in one frame.
        let first = playout.tick();
        let frame = first.frame.unwrap();
        assert_eq!(
            (&frame[..100], &frame[100..]),
            (&[1; 100][..], &[2; 60][..])
        );
        let second = playout.tick();
        let frame = second.frame.unwrap();
        assert_eq!(
            (&frame[..40], &frame[40..]),
            (&[2; 40][..], &[SILENCE; 120][..])
        );
        assert_eq!(second.marks, vec!["mid".to_string()]);
        let third = playout.tick();
        assert_eq!((third.marks, third.frame), (vec!["end".to_string()], None));
        assert_eq!(playout.underruns(), 0);
    }
}
