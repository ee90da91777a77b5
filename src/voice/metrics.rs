//! Timing and turn-taking of one call, computed from its `Conversation`: how long the agent
//! took to answer, who talked over whom, where nobody spoke, which keys were pressed.
//!
//! Pure computation, no I/O. Times are milliseconds from the start of the media stream, as in
//! the conversation. The fields mirror `trialrun.voice.results.CallMetrics` (which is in
//! seconds).
//!
//! The conversation promises utterances and keys ordered by start time; the metrics do not
//! rely on it and sort their own view first, so a record assembled out of order still gives
//! the same numbers. An utterance whose end precedes its start is read as empty (end = start).

use super::conversation::{Conversation, EndedBy, Speaker};

/// What counts as a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The shortest gap with nobody speaking that is reported as a silence.
    pub min_silence_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            min_silence_ms: 2000,
        }
    }
}

/// One side started speaking while the other was still speaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    /// Who started talking over the other.
    pub by: Speaker,
    /// When the interrupting utterance started.
    pub at_ms: u64,
    /// How long both spoke at once.
    pub overlap_ms: u64,
}

/// Nobody spoke from `start_ms` for `duration_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    pub start_ms: u64,
    pub duration_ms: u64,
}

/// Timing and turn-taking of one call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallMetrics {
    /// From the stream's start to its end.
    pub duration_ms: u64,
    /// When the agent's first utterance started; None if it never spoke.
    pub time_to_first_word_ms: Option<u64>,
    /// Per answered caller turn, in call order: from the end of the caller's speech to the
    /// start of the agent's answer. See `response_latencies` for which turns are measured.
    pub response_latencies_ms: Vec<u64>,
    /// Nearest-rank percentiles of `response_latencies_ms`; None when nothing was measured.
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub interruptions: Vec<Interruption>,
    pub silences: Vec<Silence>,
    pub ended_by: EndedBy,
    pub end_reason: String,
    /// The keys the caller pressed, in order ("12#").
    pub dtmf_sent: String,
    /// The keys the agent pressed, in order.
    pub dtmf_heard: String,
    /// Caller utterances.
    pub turns: u32,
}

/// An utterance as the metrics read it: who, and a well-formed [start, end) interval.
#[derive(Debug, Clone, Copy)]
struct Span {
    speaker: Speaker,
    start: u64,
    end: u64,
}

impl CallMetrics {
    pub fn from_conversation(conversation: &Conversation, config: &MetricsConfig) -> Self {
        let spans = spans_by_start(conversation);
        let response_latencies_ms = response_latencies(&spans);
        let mut keys: Vec<_> = conversation.keys.iter().collect();
        keys.sort_by_key(|k| k.at_ms); // stable: keys pressed in the same ms keep their order
        let keys_of = |speaker: Speaker| -> String {
            keys.iter()
                .filter(|k| k.speaker == speaker)
                .map(|k| k.digit)
                .collect()
        };
        Self {
            duration_ms: conversation.duration_ms,
            time_to_first_word_ms: spans
                .iter()
                .find(|s| s.speaker == Speaker::Agent)
                .map(|s| s.start),
            latency_p50_ms: nearest_rank(&response_latencies_ms, 50),
            latency_p95_ms: nearest_rank(&response_latencies_ms, 95),
            response_latencies_ms,
            interruptions: interruptions(&spans),
            silences: silences(&spans, conversation.duration_ms, config.min_silence_ms),
            ended_by: conversation.ended_by,
            end_reason: conversation.end_reason.clone(),
            dtmf_sent: keys_of(Speaker::Caller),
            dtmf_heard: keys_of(Speaker::Agent),
            turns: spans
                .iter()
                .filter(|s| s.speaker == Speaker::Caller)
                .count() as u32,
        }
    }
}

/// The utterances sorted by start (stable: equal starts keep their recorded order).
fn spans_by_start(conversation: &Conversation) -> Vec<Span> {
    let mut spans: Vec<Span> = conversation
        .utterances
        .iter()
        .map(|u| Span {
            speaker: u.speaker,
            start: u.start_ms,
            end: u.end_ms.max(u.start_ms),
        })
        .collect();
    spans.sort_by_key(|s| s.start);
    spans
}

/// Response latency is "end of the caller's speech → the agent's first audio after it".
///
/// For each caller utterance, the answer is the first agent utterance that starts at or after
/// the caller's end and before the caller's next utterance starts. A turn is not measured
/// (skipped, not 0) when:
/// - the agent was already speaking when the caller stopped (it barged in and the caller was
///   cut off, or it never stopped for the caller): that is an interruption, and whatever the
///   agent says after it is not an answer to the caller's end;
/// - the agent said nothing before the caller spoke again, or before the call ended.
///
/// An agent utterance that started and ended within the caller's speech (a backchannel
/// "mm-hmm") does not stop the turn from being measured by the answer that follows.
fn response_latencies(spans: &[Span]) -> Vec<u64> {
    let callers: Vec<&Span> = spans
        .iter()
        .filter(|s| s.speaker == Speaker::Caller)
        .collect();
    let agents: Vec<&Span> = spans
        .iter()
        .filter(|s| s.speaker == Speaker::Agent)
        .collect();
    let mut latencies = Vec::new();
    for (i, caller) in callers.iter().enumerate() {
        let next_caller_start = callers.get(i + 1).map_or(u64::MAX, |next| next.start);
        let agent_speaking_at_end = agents
            .iter()
            .any(|a| a.start < caller.end && a.end > caller.end);
        if agent_speaking_at_end {
            continue;
        }
        let answer = agents
            .iter()
            .find(|a| a.start >= caller.end && a.start < next_caller_start);
        if let Some(answer) = answer {
            latencies.push(answer.start - caller.end);
        }
    }
    latencies
}

/// The nearest-rank percentile: the smallest value such that at least `percent`% of the
/// values are less than or equal to it, i.e. the `ceil(percent/100 * n)`-th smallest value
/// (1-based). Always one of the values, never an interpolation: p50 of [100, 300] is 100,
/// p95 of 20 values is the 19th smallest. None for no values.
fn nearest_rank(values: &[u64], percent: u32) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let rank = (percent as usize * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// Each utterance that starts while one of the other side's is in progress (its [start, end)
/// contains the new start) is an interruption by its speaker; the overlap runs until the
/// first of the two ends. A side never interrupts itself, and an empty utterance interrupts
/// no one. When both start in the same millisecond, the one recorded second interrupts.
fn interruptions(spans: &[Span]) -> Vec<Interruption> {
    let mut found = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        // Of the other side's utterances in progress (normally one), the longest-lasting.
        let interrupted_until = spans[..i]
            .iter()
            .filter(|earlier| earlier.speaker != span.speaker && earlier.end > span.start)
            .map(|earlier| earlier.end)
            .max();
        if let Some(until) = interrupted_until {
            let overlap_ms = until.min(span.end) - span.start;
            if overlap_ms > 0 {
                found.push(Interruption {
                    by: span.speaker,
                    at_ms: span.start,
                    overlap_ms,
                });
            }
        }
    }
    found
}

/// Gaps of at least `min_silence_ms` in which nobody spoke, from the first utterance's start
/// to the call's end (a trailing silence counts). Before the first utterance is not a
/// silence but the time to the first word; a call in which nobody spoke has no silences.
fn silences(spans: &[Span], duration_ms: u64, min_silence_ms: u64) -> Vec<Silence> {
    let Some(first) = spans.first() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut spoken_until = first.end;
    let mut push_gap = |from: u64, to: u64| {
        let gap = to.saturating_sub(from);
        if gap > 0 && gap >= min_silence_ms {
            found.push(Silence {
                start_ms: from,
                duration_ms: gap,
            });
        }
    };
    for span in &spans[1..] {
        if span.start > spoken_until {
            push_gap(spoken_until, span.start);
        }
        spoken_until = spoken_until.max(span.end);
    }
    push_gap(spoken_until, duration_ms);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::conversation::{KeyPress, Utterance};

    use Speaker::{Agent, Caller};

    fn said(speaker: Speaker, start_ms: u64, end_ms: u64) -> Utterance {
        Utterance {
            speaker,
            text: format!("{speaker} at {start_ms}"),
            start_ms,
            end_ms,
            cut_off: false,
        }
    }

    fn cut(speaker: Speaker, start_ms: u64, end_ms: u64) -> Utterance {
        Utterance {
            cut_off: true,
            ..said(speaker, start_ms, end_ms)
        }
    }

    fn call(utterances: Vec<Utterance>, duration_ms: u64) -> Conversation {
        Conversation {
            utterances,
            keys: Vec::new(),
            duration_ms,
            ended_by: EndedBy::Caller,
            end_reason: "the persona hung up: done".into(),
        }
    }

    fn metrics(conversation: &Conversation) -> CallMetrics {
        CallMetrics::from_conversation(conversation, &MetricsConfig::default())
    }

    #[test]
    fn default_config_reports_silences_of_two_seconds_or_more() {
        assert_eq!(MetricsConfig::default().min_silence_ms, 2000);
    }

    #[test]
    fn normal_alternation() {
        let conversation = call(
            vec![
                said(Agent, 800, 3000),
                said(Caller, 3500, 5000),
                said(Agent, 5700, 8000),
                said(Caller, 8400, 9000),
                said(Agent, 10_000, 12_000),
            ],
            12_500,
        );
        let m = metrics(&conversation);
        assert_eq!(m.duration_ms, 12_500);
        assert_eq!(m.time_to_first_word_ms, Some(800));
        assert_eq!(m.response_latencies_ms, vec![700, 1000]);
        assert_eq!(m.latency_p50_ms, Some(700));
        assert_eq!(m.latency_p95_ms, Some(1000));
        assert_eq!(m.interruptions, vec![]);
        assert_eq!(m.silences, vec![]);
        assert_eq!(m.turns, 2);
        assert_eq!(m.ended_by, EndedBy::Caller);
        assert_eq!(m.end_reason, "the persona hung up: done");
        assert_eq!(m.dtmf_sent, "");
        assert_eq!(m.dtmf_heard, "");
    }

    #[test]
    fn an_answer_starting_exactly_at_the_callers_end_is_zero_latency() {
        let m = metrics(&call(
            vec![said(Caller, 0, 1000), said(Agent, 1000, 2000)],
            2000,
        ));
        assert_eq!(m.response_latencies_ms, vec![0]);
        assert_eq!(m.interruptions, vec![]);
    }

    #[test]
    fn agent_barging_in_is_an_interruption_not_a_latency() {
        // The agent starts at 4200 while the caller speaks until 5000; the caller stops
        // (cut off) at 4600. The agent's next utterance is not an answer to that end.
        let conversation = call(
            vec![
                said(Agent, 0, 2000),
                cut(Caller, 2500, 4600),
                said(Agent, 4200, 7000),
                said(Agent, 8000, 9000),
                said(Caller, 9500, 10_000),
                said(Agent, 10_300, 11_000),
            ],
            11_000,
        );
        let m = metrics(&conversation);
        assert_eq!(
            m.interruptions,
            vec![Interruption {
                by: Agent,
                at_ms: 4200,
                overlap_ms: 400
            }]
        );
        assert_eq!(m.response_latencies_ms, vec![300]);
        assert_eq!(m.turns, 2);
    }

    #[test]
    fn a_cut_off_caller_counts_from_its_cut_when_the_agent_answers_after_it() {
        // The caller was cleared at 3000 (say, a mark lost) but the agent only spoke at 3400.
        let m = metrics(&call(
            vec![
                said(Agent, 0, 1000),
                cut(Caller, 1500, 3000),
                said(Agent, 3400, 5000),
            ],
            5000,
        ));
        assert_eq!(m.response_latencies_ms, vec![400]);
        assert_eq!(m.interruptions, vec![]);
    }

    #[test]
    fn caller_barging_in_is_an_interruption_by_the_caller() {
        // The agent keeps talking over the caller's "wait" (no barge-in support), then answers.
        let conversation = call(
            vec![
                said(Agent, 0, 6000),
                said(Caller, 2000, 3000),
                said(Agent, 7000, 8000),
            ],
            8000,
        );
        let m = metrics(&conversation);
        assert_eq!(
            m.interruptions,
            vec![Interruption {
                by: Caller,
                at_ms: 2000,
                overlap_ms: 1000
            }]
        );
        // The agent was still speaking when the caller stopped: no latency for that turn.
        assert!(m.response_latencies_ms.is_empty());
        assert_eq!(m.latency_p50_ms, None);
    }

    #[test]
    fn overlap_runs_until_the_first_of_the_two_ends() {
        // The caller talks over the agent's end and goes on after it.
        let m = metrics(&call(
            vec![
                said(Agent, 0, 3000),
                said(Caller, 2500, 5000),
                said(Agent, 5200, 6000),
            ],
            6000,
        ));
        assert_eq!(
            m.interruptions,
            vec![Interruption {
                by: Caller,
                at_ms: 2500,
                overlap_ms: 500
            }]
        );
        // The agent had stopped before the caller did: its next start is an answer.
        assert_eq!(m.response_latencies_ms, vec![200]);
    }

    #[test]
    fn both_sides_interrupting_in_one_call() {
        let conversation = call(
            vec![
                said(Agent, 0, 4000),
                said(Caller, 3000, 5000), // caller over the agent's end: 1000
                said(Agent, 4500, 6000),  // agent over the caller's end: 500
                said(Caller, 7000, 7500),
                said(Agent, 7400, 7400), // empty: interrupts no one
                said(Agent, 8000, 9000),
            ],
            9000,
        );
        let m = metrics(&conversation);
        assert_eq!(
            m.interruptions,
            vec![
                Interruption {
                    by: Caller,
                    at_ms: 3000,
                    overlap_ms: 1000
                },
                Interruption {
                    by: Agent,
                    at_ms: 4500,
                    overlap_ms: 500
                },
            ]
        );
        assert_eq!(m.response_latencies_ms, vec![500]);
    }

    #[test]
    fn a_side_never_interrupts_itself() {
        let m = metrics(&call(
            vec![
                said(Agent, 0, 3000),
                said(Agent, 2000, 4000),
                said(Caller, 4000, 5000),
            ],
            5000,
        ));
        assert_eq!(m.interruptions, vec![]);
        assert_eq!(m.time_to_first_word_ms, Some(0));
    }

    #[test]
    fn a_backchannel_inside_the_callers_speech_does_not_hide_the_answer() {
        let conversation = call(
            vec![
                said(Agent, 0, 1000),
                said(Caller, 1500, 6000),
                said(Agent, 3000, 3300),
                said(Agent, 6800, 8000),
            ],
            8000,
        );
        let m = metrics(&conversation);
        assert_eq!(
            m.interruptions,
            vec![Interruption {
                by: Agent,
                at_ms: 3000,
                overlap_ms: 300
            }]
        );
        assert_eq!(m.response_latencies_ms, vec![800]);
    }

    #[test]
    fn a_turn_the_agent_does_not_answer_before_the_caller_speaks_again_is_skipped() {
        let conversation = call(
            vec![
                said(Agent, 0, 1000),
                said(Caller, 1500, 2000),
                said(Caller, 5000, 6000), // "hello? are you there?"
                said(Agent, 6900, 8000),
                said(Caller, 9000, 9500), // never answered: the call ends
            ],
            11_000,
        );
        let m = metrics(&conversation);
        assert_eq!(m.response_latencies_ms, vec![900]);
        assert_eq!(m.turns, 3);
    }

    #[test]
    fn an_agent_that_never_speaks() {
        let conversation = call(
            vec![said(Caller, 10_000, 11_000), said(Caller, 20_000, 21_000)],
            30_000,
        );
        let m = metrics(&conversation);
        assert_eq!(m.time_to_first_word_ms, None);
        assert!(m.response_latencies_ms.is_empty());
        assert_eq!(m.latency_p50_ms, None);
        assert_eq!(m.latency_p95_ms, None);
        assert_eq!(m.interruptions, vec![]);
        assert_eq!(m.turns, 2);
        // The wait before the caller's first words is not a silence; the rest is.
        assert_eq!(
            m.silences,
            vec![
                Silence {
                    start_ms: 11_000,
                    duration_ms: 9000
                },
                Silence {
                    start_ms: 21_000,
                    duration_ms: 9000
                }
            ]
        );
    }

    #[test]
    fn a_call_in_which_nobody_speaks() {
        let m = metrics(&Conversation {
            ended_by: EndedBy::Timeout,
            ..call(vec![], 15_000)
        });
        assert_eq!(m.time_to_first_word_ms, None);
        assert_eq!(m.silences, vec![]);
        assert_eq!(m.turns, 0);
        assert_eq!(m.ended_by, EndedBy::Timeout);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[], 95), None);
        // One value: every percentile is that value.
        assert_eq!(nearest_rank(&[420], 50), Some(420));
        assert_eq!(nearest_rank(&[420], 95), Some(420));
        // Two values: p50 is the lower (rank ceil(1.0) = 1), p95 the higher (ceil(1.9) = 2).
        assert_eq!(nearest_rank(&[300, 100], 50), Some(100));
        assert_eq!(nearest_rank(&[300, 100], 95), Some(300));
        // Twenty values 10..=200, shuffled: p50 is the 10th (100), p95 the 19th (190).
        let twenty: Vec<u64> = (1..=20).map(|i| (i * 7 % 20 + 1) * 10).collect();
        assert_eq!(
            twenty
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            20
        );
        assert_eq!(nearest_rank(&twenty, 50), Some(100));
        assert_eq!(nearest_rank(&twenty, 95), Some(190));
        assert_eq!(nearest_rank(&twenty, 100), Some(200));
        assert_eq!(nearest_rank(&twenty, 0), Some(10));
        // Three values: p50 is the middle one (ceil(1.5) = 2).
        assert_eq!(nearest_rank(&[5, 1, 9], 50), Some(5));
    }

    #[test]
    fn percentiles_of_a_whole_call() {
        // Twenty answered turns with latencies 100, 200, ..., 2000 ms, in a shuffled order.
        let mut utterances = Vec::new();
        let mut at = 0;
        let mut expected = Vec::new();
        for i in 1..=20u64 {
            let latency = (i * 7 % 20 + 1) * 100;
            utterances.push(said(Caller, at, at + 1000));
            utterances.push(said(Agent, at + 1000 + latency, at + 1000 + latency + 500));
            expected.push(latency);
            at += 1000 + latency + 500 + 100;
        }
        let m = metrics(&call(utterances, at));
        assert_eq!(m.response_latencies_ms, expected);
        assert_eq!(m.latency_p50_ms, Some(1000));
        assert_eq!(m.latency_p95_ms, Some(1900));
        assert_eq!(m.turns, 20);
        // The one 2000 ms wait for an answer is also a silence.
        assert_eq!(
            m.silences.iter().map(|s| s.duration_ms).collect::<Vec<_>>(),
            vec![2000]
        );
    }

    #[test]
    fn silences_between_speech_and_to_the_call_end() {
        let conversation = call(
            vec![
                said(Agent, 5000, 6000),     // the first 5 s are time to first word
                said(Caller, 7999, 9000),    // 1999 ms gap: not a silence
                said(Agent, 11_000, 12_000), // 2000 ms: a silence
                said(Caller, 11_500, 13_000),
                said(Agent, 20_000, 21_000), // spoken until 13000: 7000 ms
            ],
            25_000, // trailing 4000 ms
        );
        let m = metrics(&conversation);
        assert_eq!(
            m.silences,
            vec![
                Silence {
                    start_ms: 9000,
                    duration_ms: 2000
                },
                Silence {
                    start_ms: 13_000,
                    duration_ms: 7000
                },
                Silence {
                    start_ms: 21_000,
                    duration_ms: 4000
                },
            ]
        );
        let longer = CallMetrics::from_conversation(
            &conversation,
            &MetricsConfig {
                min_silence_ms: 5000,
            },
        );
        assert_eq!(
            longer.silences,
            vec![Silence {
                start_ms: 13_000,
                duration_ms: 7000
            }]
        );
        let every_gap =
            CallMetrics::from_conversation(&conversation, &MetricsConfig { min_silence_ms: 0 });
        assert_eq!(every_gap.silences.len(), 4);
        assert_eq!(
            every_gap.silences[0],
            Silence {
                start_ms: 6000,
                duration_ms: 1999
            }
        );
    }

    #[test]
    fn a_long_utterance_covers_the_shorter_ones_inside_it() {
        // Speech continues until 10000 although the caller's utterance ended at 3000.
        let m = metrics(&call(
            vec![
                said(Agent, 0, 10_000),
                said(Caller, 1000, 3000),
                said(Caller, 11_000, 12_000),
            ],
            12_000,
        ));
        assert_eq!(m.silences, vec![]);
        let tight = CallMetrics::from_conversation(
            &call(
                vec![
                    said(Agent, 0, 10_000),
                    said(Caller, 1000, 3000),
                    said(Caller, 13_000, 14_000),
                ],
                14_000,
            ),
            &MetricsConfig::default(),
        );
        assert_eq!(
            tight.silences,
            vec![Silence {
                start_ms: 10_000,
                duration_ms: 3000
            }]
        );
    }

    #[test]
    fn speech_recorded_past_the_call_end_leaves_no_trailing_silence() {
        let m = metrics(&call(vec![said(Agent, 0, 5000)], 4000));
        assert_eq!(m.silences, vec![]);
    }

    #[test]
    fn unordered_input_gives_the_same_metrics_as_ordered() {
        let ordered = call(
            vec![
                said(Agent, 500, 2000),
                said(Caller, 2600, 4000),
                said(Agent, 3800, 6000),
                said(Caller, 9000, 9500),
                said(Agent, 10_100, 11_000),
            ],
            14_000,
        );
        let mut shuffled = ordered.clone();
        shuffled.utterances.reverse();
        shuffled.utterances.swap(0, 2);
        assert_ne!(shuffled.utterances, ordered.utterances);
        let expected = metrics(&ordered);
        assert_eq!(expected.time_to_first_word_ms, Some(500));
        assert_eq!(expected.response_latencies_ms, vec![600]);
        assert_eq!(
            expected.interruptions,
            vec![Interruption {
                by: Agent,
                at_ms: 3800,
                overlap_ms: 200
            }]
        );
        assert_eq!(
            expected.silences,
            vec![
                Silence {
                    start_ms: 6000,
                    duration_ms: 3000
                },
                Silence {
                    start_ms: 11_000,
                    duration_ms: 3000
                }
            ]
        );
        assert_eq!(metrics(&shuffled), expected);
    }

    #[test]
    fn an_end_before_the_start_is_read_as_an_empty_utterance() {
        let m = metrics(&call(
            vec![
                said(Agent, 0, 4000),
                said(Caller, 2000, 1000),
                said(Agent, 4500, 5000),
            ],
            5000,
        ));
        assert_eq!(m.interruptions, vec![]);
        assert_eq!(m.turns, 1);
    }

    #[test]
    fn simultaneous_starts_count_once_for_the_one_recorded_second() {
        let m = metrics(&call(
            vec![said(Caller, 1000, 2000), said(Agent, 1000, 1500)],
            2000,
        ));
        assert_eq!(
            m.interruptions,
            vec![Interruption {
                by: Agent,
                at_ms: 1000,
                overlap_ms: 500
            }]
        );
    }

    #[test]
    fn keys_are_split_by_side_in_time_order() {
        let mut conversation = call(vec![said(Agent, 0, 1000)], 5000);
        conversation.keys = vec![
            KeyPress {
                speaker: Caller,
                digit: '#',
                at_ms: 3000,
            },
            KeyPress {
                speaker: Caller,
                digit: '1',
                at_ms: 1000,
            },
            KeyPress {
                speaker: Agent,
                digit: '9',
                at_ms: 1500,
            },
            KeyPress {
                speaker: Caller,
                digit: '2',
                at_ms: 2000,
            },
            KeyPress {
                speaker: Agent,
                digit: '*',
                at_ms: 4000,
            },
        ];
        let m = metrics(&conversation);
        assert_eq!(m.dtmf_sent, "12#");
        assert_eq!(m.dtmf_heard, "9*");
    }
}
