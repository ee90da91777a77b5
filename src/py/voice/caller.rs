//! simulate_caller and judge_call: a simulated caller on a call, and criteria judged over
//! its conversation.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::providers::{PyLanguageModel, PyPersona, PySpeechToText, PyTextToSpeech};
use super::telephony::{LoopbackCarrierCore, PyCall};
use crate::py::bridge::{spawn_for_asyncio, Finish};
use crate::py::convert::secs;
use crate::telephony::call::TransferReport;
use crate::voice::caller::{run_caller, CallerConfig, CallerOutcome, CallerSpeech};
use crate::voice::conversation::{Conversation, EndedBy, KeyPress, Speaker, Utterance};
use crate::voice::judge::{
    check_criteria, Criterion, Judge, JudgeConfig, JudgeContext, JudgeFormat,
};
use crate::voice::metrics::{CallMetrics, MetricsConfig};

// ---------------------------------------------------------------------------------------
// The caller

/// Runs the simulated caller on `call` until it ends; an awaitable of a dict: utterances,
/// keys, duration_ms, ended_by, end_reason, call_sid, recording_path, error, transcript.
#[pyfunction]
#[pyo3(signature = (call, persona, stt, tts, *, voice=None, language=Some("en".to_string()), barge_in=true, max_turns=12, max_duration=180.0, silence_turn=6.0, turn_gap=0.8, early_gap=Some(0.4), carrier=None))]
#[allow(clippy::too_many_arguments)]
fn simulate_caller<'py>(
    py: Python<'py>,
    call: &PyCall,
    persona: &PyPersona,
    stt: &PySpeechToText,
    tts: &PyTextToSpeech,
    voice: Option<String>,
    language: Option<String>,
    barge_in: bool,
    max_turns: u32,
    max_duration: f64,
    silence_turn: f64,
    turn_gap: f64,
    early_gap: Option<f64>,
    carrier: Option<&LoopbackCarrierCore>,
) -> PyResult<Bound<'py, PyAny>> {
    let witness = carrier.and_then(LoopbackCarrierCore::witness);
    let config = CallerConfig {
        voice,
        language,
        barge_in,
        max_turns,
        max_duration: secs(max_duration, "max_duration")?,
        silence_turn: secs(silence_turn, "silence_turn")?,
        turn_gap: secs(turn_gap, "turn_gap")?,
        early_gap: early_gap.map(|s| secs(s, "early_gap")).transpose()?,
        ..CallerConfig::default()
    };
    let persona = persona
        .0
        .lock()
        .expect("persona lock")
        .take()
        .ok_or_else(|| {
            PyRuntimeError::new_err(
                "this persona has already been used on a call: make one per call",
            )
        })?;
    let speech = CallerSpeech {
        stt: stt.0.clone(),
        tts: tts.0.clone(),
    };
    let (commands, events) = call.parts();
    spawn_for_asyncio(py, async move {
        let mut events = events.lock().await;
        let outcome = run_caller(commands, &mut events, persona, speech, config, witness).await;
        Box::new(move |py: Python<'_>| outcome_dict(py, &outcome).map(|d| d.into_any().unbind()))
            as Finish
    })
}

pub(super) fn utterances_list<'py>(
    py: Python<'py>,
    utterances: &[Utterance],
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for u in utterances {
        let d = PyDict::new(py);
        d.set_item("role", u.speaker.as_str())?;
        d.set_item("text", &u.text)?;
        d.set_item("start", u.start_ms as f64 / 1000.0)?;
        d.set_item("end", u.end_ms as f64 / 1000.0)?;
        d.set_item("cut_off", u.cut_off)?;
        list.append(d)?;
    }
    Ok(list)
}

pub(super) fn keys_list<'py>(py: Python<'py>, keys: &[KeyPress]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for k in keys {
        let d = PyDict::new(py);
        d.set_item("role", k.speaker.as_str())?;
        d.set_item("digit", k.digit.to_string())?;
        d.set_item("at", k.at_ms as f64 / 1000.0)?;
        list.append(d)?;
    }
    Ok(list)
}

/// The agent's transfers (`<Dial>`), times in seconds from the stream's start.
fn transfers_list<'py>(
    py: Python<'py>,
    transfers: &[TransferReport],
) -> PyResult<Bound<'py, PyList>> {
    let seconds = |ms: u64| ms as f64 / 1000.0;
    let list = PyList::empty(py);
    for t in transfers {
        let d = PyDict::new(py);
        d.set_item("target", &t.target)?;
        d.set_item("kind", t.kind)?;
        d.set_item("call_sid", &t.call_sid)?;
        d.set_item("status", &t.status)?;
        d.set_item("reason", &t.reason)?;
        d.set_item("start", seconds(t.start_ms))?;
        d.set_item("answered_at", t.answered_ms.map(seconds))?;
        d.set_item("ended_at", t.ended_ms.map(seconds))?;
        list.append(d)?;
    }
    Ok(list)
}

fn outcome_dict<'py>(py: Python<'py>, outcome: &CallerOutcome) -> PyResult<Bound<'py, PyDict>> {
    let c = &outcome.conversation;
    let d = PyDict::new(py);
    d.set_item("utterances", utterances_list(py, &c.utterances)?)?;
    d.set_item("keys", keys_list(py, &c.keys)?)?;
    d.set_item("duration", c.duration_ms as f64 / 1000.0)?;
    d.set_item("ended_by", c.ended_by.as_str())?;
    d.set_item("end_reason", &c.end_reason)?;
    d.set_item("call_sid", &outcome.call_sid)?;
    d.set_item("recording_path", &outcome.recording_path)?;
    d.set_item("error", &outcome.error)?;
    d.set_item(
        "stream_started_at",
        outcome
            .stream_started_at
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
    )?;
    let far_end = outcome.far_end.as_ref();
    d.set_item("agent_call_sid", far_end.map(|f| f.call_sid.as_str()))?;
    d.set_item("underruns", far_end.map(|f| f.underruns))?;
    // As JSON text: trialrun.voice reads it into its dataclasses.
    let faults = far_end.and_then(|f| f.faults.as_ref());
    d.set_item(
        "network_faults",
        faults
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| PyValueError::new_err(e.to_string()))?,
    )?;
    d.set_item(
        "transfers",
        transfers_list(py, far_end.map_or(&[][..], |f| &f.transfers))?,
    )?;
    d.set_item("transcript", c.timestamped_transcript())?;
    d.set_item(
        "metrics",
        metrics_dict(
            py,
            &CallMetrics::from_conversation(c, &MetricsConfig::default()),
        )?,
    )?;
    Ok(d)
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The call's metrics, in seconds, as `trialrun.voice.CallMetrics` takes them.
fn metrics_dict<'py>(py: Python<'py>, m: &CallMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("duration", seconds(m.duration_ms))?;
    d.set_item("time_to_first_word", m.time_to_first_word_ms.map(seconds))?;
    d.set_item(
        "response_latencies",
        m.response_latencies_ms
            .iter()
            .map(|&ms| seconds(ms))
            .collect::<Vec<_>>(),
    )?;
    d.set_item("latency_p50", m.latency_p50_ms.map(seconds))?;
    d.set_item("latency_p95", m.latency_p95_ms.map(seconds))?;
    let interruptions = PyList::empty(py);
    for i in &m.interruptions {
        let item = PyDict::new(py);
        item.set_item("by", i.by.as_str())?;
        item.set_item("at", seconds(i.at_ms))?;
        item.set_item("overlap", seconds(i.overlap_ms))?;
        interruptions.append(item)?;
    }
    d.set_item("interruptions", interruptions)?;
    let silences = PyList::empty(py);
    for s in &m.silences {
        let item = PyDict::new(py);
        item.set_item("start", seconds(s.start_ms))?;
        item.set_item("duration", seconds(s.duration_ms))?;
        silences.append(item)?;
    }
    d.set_item("silences", silences)?;
    d.set_item("ended_by", m.ended_by.as_str())?;
    d.set_item("end_reason", &m.end_reason)?;
    d.set_item("dtmf_sent", &m.dtmf_sent)?;
    d.set_item("dtmf_heard", &m.dtmf_heard)?;
    d.set_item("turns", m.turns)?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------
// The judge

/// A call as Python holds it (TestResult's transcript and keys) back to a Conversation.
fn conversation_from_python(
    transcript: &Bound<'_, PyList>,
    keys: &Bound<'_, PyList>,
    duration: f64,
    ended_by: &str,
    end_reason: String,
) -> PyResult<Conversation> {
    let ms = |v: Bound<'_, PyAny>| -> PyResult<u64> {
        Ok((v.extract::<f64>()? * 1000.0).round().max(0.0) as u64)
    };
    // The party the agent transferred the call to speaks from the agent's end; the judge
    // is told who it is in the line itself.
    let speaker = |role: &str| match role {
        "caller" => Ok((Speaker::Caller, "")),
        "agent" => Ok((Speaker::Agent, "")),
        "transferee" => Ok((Speaker::Agent, "(the party the call was transferred to) ")),
        other => Err(PyValueError::new_err(format!(
            "role must be \"caller\", \"agent\" or \"transferee\", not {other:?}"
        ))),
    };
    let mut utterances = Vec::new();
    for u in transcript.iter() {
        let (speaker, prefix) = speaker(&u.getattr("role")?.extract::<String>()?)?;
        utterances.push(Utterance {
            speaker,
            text: format!("{prefix}{}", u.getattr("text")?.extract::<String>()?),
            start_ms: ms(u.getattr("start")?)?,
            end_ms: ms(u.getattr("end")?)?,
            cut_off: u.getattr("cut_off")?.extract()?,
        });
    }
    let mut presses = Vec::new();
    for k in keys.iter() {
        let digit: String = k.getattr("digit")?.extract()?;
        presses.push(KeyPress {
            speaker: speaker(&k.getattr("role")?.extract::<String>()?)?.0,
            digit: digit.chars().next().unwrap_or('?'),
            at_ms: ms(k.getattr("at")?)?,
        });
    }
    let ended_by = match ended_by {
        "caller" => EndedBy::Caller,
        "agent" => EndedBy::Agent,
        "timeout" => EndedBy::Timeout,
        _ => EndedBy::Error,
    };
    Ok(Conversation {
        utterances,
        keys: presses,
        duration_ms: (duration * 1000.0) as u64,
        ended_by,
        end_reason,
    })
}

/// Judges `criteria` ((name, prompt) pairs) on a call with a language model; an awaitable
/// of a list of {name, passed, reason, error}, in the criteria's order.
#[pyfunction]
#[pyo3(signature = (model, criteria, transcript, keys, *, duration, ended_by, end_reason, caller_name, caller_prompt, scenario, metrics=None, response_format="json_schema", retries=2))]
#[allow(clippy::too_many_arguments)]
fn judge_call<'py>(
    py: Python<'py>,
    model: &PyLanguageModel,
    criteria: Vec<(String, String)>,
    transcript: &Bound<'py, PyList>,
    keys: &Bound<'py, PyList>,
    duration: f64,
    ended_by: &str,
    end_reason: String,
    caller_name: String,
    caller_prompt: String,
    scenario: String,
    metrics: Option<String>,
    response_format: &str,
    retries: u32,
) -> PyResult<Bound<'py, PyAny>> {
    let response_format = match response_format {
        "json_schema" => JudgeFormat::JsonSchema,
        "json_object" => JudgeFormat::JsonObject,
        "none" => JudgeFormat::PromptOnly,
        other => {
            return Err(PyValueError::new_err(format!(
            "response_format must be \"json_schema\", \"json_object\" or \"none\", not {other:?}"
        )))
        }
    };
    let criteria: Vec<Criterion> = criteria
        .into_iter()
        .map(|(name, prompt)| Criterion::new(name, prompt))
        .collect();
    check_criteria(&criteria).map_err(PyValueError::new_err)?;
    let conversation = conversation_from_python(transcript, keys, duration, ended_by, end_reason)?;
    let context = JudgeContext {
        caller_name,
        caller_prompt,
        scenario,
        metrics,
    };
    let judge = Judge::new(
        model.0.clone(),
        JudgeConfig {
            response_format,
            retries,
            ..JudgeConfig::default()
        },
    );
    spawn_for_asyncio(py, async move {
        let verdicts = judge.judge(&criteria, &conversation, &context).await;
        Box::new(move |py: Python<'_>| -> PyResult<Py<PyAny>> {
            let list = PyList::empty(py);
            for v in verdicts {
                let d = PyDict::new(py);
                d.set_item("name", v.name)?;
                d.set_item("passed", v.passed)?;
                d.set_item("reason", v.reason)?;
                d.set_item("error", v.error)?;
                list.append(d)?;
            }
            Ok(list.into_any().unbind())
        }) as Finish
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate_caller, m)?)?;
    m.add_function(wrap_pyfunction!(judge_call, m)?)?;
    Ok(())
}
