//! The caller's outgoing actions for one reply (speak, press keys, hang up), run one after
//! another: each waits for the mark that says the previous one has played at the far end.

use std::collections::VecDeque;

pub enum Action {
    /// Speak `text`, synthesized as 8 kHz `audio`.
    Say {
        text: String,
        audio: Vec<i16>,
    },
    Keys(String),
    HangUp(String),
}

/// What is playing: its mark, and the conversation index of the caller's utterance.
struct Playing {
    mark: String,
    utterance: Option<usize>,
}

/// The action finished playing.
pub struct Done {
    pub utterance: Option<usize>,
}

#[derive(Default)]
pub struct Outgoing {
    queue: VecDeque<Action>,
    playing: Option<Playing>,
    marks: u64,
}

impl Outgoing {
    pub fn push(&mut self, action: Action) {
        self.queue.push_back(action);
    }

    /// Nothing playing and nothing waiting.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.playing.is_none()
    }

    /// The next action, when nothing is playing; a spoken or keyed action is playing from
    /// then until its mark comes back.
    pub fn start_next(&mut self) -> Option<Action> {
        if self.playing.is_some() {
            return None;
        }
        let action = self.queue.pop_front()?;
        if !matches!(action, Action::HangUp(_)) {
            self.marks += 1;
            self.playing = Some(Playing {
                mark: format!("trialrun-{}", self.marks),
                utterance: None,
            });
        }
        Some(action)
    }

    /// The mark to send behind the action just started.
    pub fn mark_name(&self) -> &str {
        self.playing.as_ref().map_or("", |p| p.mark.as_str())
    }

    /// The action just started is the utterance at `index`.
    pub fn playing_utterance(&mut self, index: usize) {
        if let Some(playing) = &mut self.playing {
            playing.utterance = Some(index);
        }
    }

    /// A mark came back: the action it followed has played, if it is ours.
    pub fn marked(&mut self, name: &str) -> Option<Done> {
        if self.playing.as_ref().is_some_and(|p| p.mark == name) {
            let playing = self.playing.take().expect("checked");
            return Some(Done {
                utterance: playing.utterance,
            });
        }
        None
    }

    /// The caller was talked over while speaking: the speech stops, and so does the rest of
    /// the reply but a decision to hang up. Returns the cut utterance's index.
    pub fn cut_speech(&mut self) -> Option<usize> {
        let index = self.playing.as_ref()?.utterance?;
        self.playing = None;
        self.queue.retain(|a| matches!(a, Action::HangUp(_)));
        Some(index)
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.playing = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_run_in_order_each_after_the_previous_mark() {
        let mut out = Outgoing::default();
        out.push(Action::Say {
            text: "hi".into(),
            audio: vec![0; 160],
        });
        out.push(Action::Keys("1".into()));
        out.push(Action::HangUp("done".into()));
        assert!(matches!(out.start_next(), Some(Action::Say { .. })));
        out.playing_utterance(4);
        let first = out.mark_name().to_string();
        assert!(out.start_next().is_none(), "waits for the mark");
        assert!(out.marked("someone-else").is_none());
        assert_eq!(out.marked(&first).map(|d| d.utterance), Some(Some(4)));
        assert!(matches!(out.start_next(), Some(Action::Keys(_))));
        let second = out.mark_name().to_string();
        assert_ne!(first, second);
        assert_eq!(out.marked(&second).map(|d| d.utterance), Some(None));
        assert!(matches!(out.start_next(), Some(Action::HangUp(_))));
        assert!(out.is_idle());
    }

    #[test]
    fn being_talked_over_drops_the_rest_but_a_hang_up() {
        let mut out = Outgoing::default();
        out.push(Action::Say {
            text: "hi".into(),
            audio: vec![],
        });
        out.push(Action::Keys("1".into()));
        out.push(Action::HangUp("done".into()));
        out.start_next();
        out.playing_utterance(0);
        assert_eq!(out.cut_speech(), Some(0));
        assert!(out.cut_speech().is_none());
        assert!(matches!(out.start_next(), Some(Action::HangUp(_))));
        assert!(out.is_idle());
    }
}
