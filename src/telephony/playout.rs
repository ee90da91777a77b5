//! Audio waiting to be played on one side of a call, with marks between it, taken out one
//! 20 ms frame per clock tick.
//!
//! Both ends of a stream use it: the call server paces what it sends to Twilio with it, and
//! the loopback carrier plays what an agent sent with it, echoing each mark once the audio
//! before it has played, and dropping the queue on `clear` as Twilio does.

use std::collections::VecDeque;

use super::media::FRAME_BYTES;

/// mu-law silence (the code for a zero sample).
pub const SILENCE: u8 = 0xFF;

#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// One frame of mu-law audio, FRAME_BYTES long.
    Frame(Vec<u8>),
    Mark(String),
}

/// What one tick takes out of a playout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tick {
    /// Marks whose audio has finished playing (it was taken out by earlier ticks).
    pub marks: Vec<String>,
    /// The frame to play during this tick; None when nothing is queued.
    pub frame: Option<Vec<u8>>,
}

/// A queue of mu-law audio frames and marks.
#[derive(Debug, Default)]
pub struct Playout {
    queue: VecDeque<Item>,
    /// Audio not yet making up a whole frame; completed by the next audio or padded with
    /// silence when a mark or the clock needs it.
    partial: Vec<u8>,
    queued_frames: usize,
}

impl Playout {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues audio behind what is already queued.
    pub fn push_audio(&mut self, mulaw: &[u8]) {
        self.partial.extend_from_slice(mulaw);
        let whole = self.partial.len() / FRAME_BYTES * FRAME_BYTES;
        if whole == 0 {
            return;
        }
        let rest = self.partial.split_off(whole);
        for frame in self.partial.chunks(FRAME_BYTES) {
            self.queue.push_back(Item::Frame(frame.to_vec()));
            self.queued_frames += 1;
        }
        self.partial = rest;
    }

    /// Queues a mark: it is reached once all audio queued before it has played.
    pub fn push_mark(&mut self, name: &str) {
        self.flush_partial();
        self.queue.push_back(Item::Mark(name.to_string()));
    }

    /// Drops all queued audio; returns the dropped marks (Twilio echoes them on `clear`).
    pub fn clear(&mut self) -> Vec<String> {
        self.partial.clear();
        self.queued_frames = 0;
        self.queue
            .drain(..)
            .filter_map(|item| match item {
                Item::Mark(name) => Some(name),
                Item::Frame(_) => None,
            })
            .collect()
    }

    /// One clock tick: the marks now reached, then the next frame to play.
    pub fn tick(&mut self) -> Tick {
        let mut tick = Tick::default();
        if self.queue.is_empty() {
            self.flush_partial();
        }
        while let Some(item) = self.queue.pop_front() {
            match item {
                Item::Mark(name) => tick.marks.push(name),
                Item::Frame(frame) => {
                    self.queued_frames -= 1;
                    tick.frame = Some(frame);
                    break;
                }
            }
        }
        tick
    }

    /// Milliseconds of audio still queued.
    pub fn queued_ms(&self) -> u64 {
        let bytes = self.queued_frames * FRAME_BYTES + self.partial.len();
        bytes as u64 / 8
    }

    /// Whether nothing (audio or mark) is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.partial.is_empty()
    }

    fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let mut frame = std::mem::take(&mut self.partial);
        frame.resize(FRAME_BYTES, SILENCE);
        self.queue.push_back(Item::Frame(frame));
        self.queued_frames += 1;
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
        let frames: Vec<Vec<u8>> = (0..4).filter_map(|_| playout.tick().frame).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[..2].iter().all(|f| f == &vec![1; FRAME_BYTES]));
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
    fn a_mark_is_reached_on_the_tick_after_its_audio_played() {
        let mut playout = Playout::new();
        playout.push_audio(&[1; FRAME_BYTES * 2]);
        playout.push_mark("greeting");
        playout.push_audio(&[2; FRAME_BYTES]);
        assert!(playout.tick().marks.is_empty());
        assert!(playout.tick().marks.is_empty());
        let third = playout.tick();
        assert_eq!(third.marks, vec!["greeting".to_string()]);
        assert_eq!(third.frame, Some(vec![2; FRAME_BYTES]));
        assert_eq!(playout.tick(), Tick::default());
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
