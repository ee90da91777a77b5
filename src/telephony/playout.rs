//! Audio waiting to be played on one side of a call, with marks between it, taken out one
//! 20 ms frame per clock tick.
//!
//! Both ends of a stream use it: the call server paces what it sends to Twilio with it, and
//! the loopback carrier plays what an agent sent with it, echoing each mark once the audio
//! before it has played, and dropping the queue on `clear` as Twilio does.

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
    /// Bytes taken out so far, silence padding included.
    played: u64,
}

impl Playout {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues audio behind what is already queued.
    pub fn push_audio(&mut self, mulaw: &[u8]) {
        self.audio.extend(mulaw);
    }

    /// Queues a mark: it is reached once all audio queued before it has played.
    pub fn push_mark(&mut self, name: &str) {
        self.pad_to_frame();
        let at = self.played + self.audio.len() as u64;
        self.marks.push_back((at, name.to_string()));
    }

    /// Drops all queued audio; returns the dropped marks (Twilio echoes them on `clear`).
    pub fn clear(&mut self) -> Vec<String> {
        self.audio.clear();
        self.marks.drain(..).map(|(_, name)| name).collect()
    }

    /// One clock tick: the marks now reached, then the next frame to play.
    pub fn tick(&mut self) -> Tick {
        let mut tick = Tick::default();
        while self.marks.front().is_some_and(|(at, _)| *at <= self.played) {
            tick.marks
                .extend(self.marks.pop_front().map(|(_, name)| name));
        }
        if !self.audio.is_empty() {
            let mut frame = [SILENCE; FRAME_BYTES];
            let take = self.audio.len().min(FRAME_BYTES);
            let (front, back) = self.audio.as_slices();
            let from_front = front.len().min(take);
            frame[..from_front].copy_from_slice(&front[..from_front]);
            frame[from_front..take].copy_from_slice(&back[..take - from_front]);
            self.audio.drain(..take);
            self.played += FRAME_BYTES as u64;
            tick.frame = Some(frame);
        }
        tick
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
}
