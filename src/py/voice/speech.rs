//! Python bindings of the offline speech helpers: `trialrun._core.EspeakSpeech` (espeak-ng
//! text-to-speech) and `trialrun._core.resample_pcm16`. Synthesis and resampling run with
//! the GIL released.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::audio::resample::resample;
use crate::audio::PHONE_RATE;
use crate::py::convert::{pcm_bytes, pcm_samples};
use crate::voice::providers::espeak::{self, EspeakConfig, EspeakTts};
use crate::voice::providers::{ProviderError, TextToSpeech};

/// espeak-ng text-to-speech (see voice::providers::espeak). The Rust side takes it as a
/// `TextToSpeech` through [`EspeakSpeech::text_to_speech`].
#[pyclass(frozen, module = "trialrun._core", name = "EspeakSpeech")]
pub struct EspeakSpeech {
    tts: Arc<EspeakTts>,
}

impl EspeakSpeech {
    /// The engine, for Rust code that speaks without Python in the loop (the loopback
    /// carrier's `<Say>`).
    pub(crate) fn text_to_speech(&self) -> Arc<dyn TextToSpeech> {
        self.tts.clone()
    }
}

#[pymethods]
impl EspeakSpeech {
    /// Loads espeak-ng from `library_path` with its data at `data_path` (the first time in
    /// the process; later instances must name the same paths). `voice` is the default
    /// espeak voice, `rate_wpm` the speaking rate (80 to 450 words per minute; espeak-ng's
    /// 175 when None). Raises ValueError naming the path or voice that is wrong.
    #[new]
    #[pyo3(signature = (library_path, data_path, voice="en-us", rate_wpm=None))]
    fn new(
        py: Python<'_>,
        library_path: PathBuf,
        data_path: PathBuf,
        voice: &str,
        rate_wpm: Option<i64>,
    ) -> PyResult<Self> {
        let rate_wpm = match rate_wpm {
            None => None,
            Some(rate) => Some(u32::try_from(rate).map_err(|_| {
                let (low, high) = (espeak::RATE_RANGE.start(), espeak::RATE_RANGE.end());
                PyValueError::new_err(format!(
                    "rate_wpm must be {low} to {high} words per minute, not {rate}"
                ))
            })?),
        };
        let config = EspeakConfig {
            default_voice: voice.to_string(),
            rate_wpm,
            ..EspeakConfig::new(library_path, data_path)
        };
        let tts = py.detach(|| EspeakTts::new(config))?;
        Ok(Self { tts: Arc::new(tts) })
    }

    /// The sample rate `synthesize` returns (espeak-ng's, usually 22050).
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.tts.sample_rate()
    }

    /// The default voice.
    #[getter]
    fn voice(&self) -> &str {
        &self.tts.config().default_voice
    }

    #[getter]
    fn rate_wpm(&self) -> u32 {
        self.tts
            .config()
            .rate_wpm
            .unwrap_or(espeak::DEFAULT_RATE_WPM)
    }

    /// Speech of `text` with `voice` (or the default voice): 16-bit little-endian mono PCM
    /// and its sample rate. Raises ValueError for an unknown voice or empty text.
    #[pyo3(signature = (text, voice=None))]
    fn synthesize<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        voice: Option<&str>,
    ) -> PyResult<(Bound<'py, PyBytes>, u32)> {
        let speech = py.detach(|| self.tts.synthesize_blocking(text, voice))?;
        Ok((pcm_bytes(py, &speech.samples), speech.rate))
    }

    /// Speech of `text` as 16-bit PCM at 8 kHz: the loopback carrier's `speech=` callable.
    /// `voice` and `language` come from TwiML `<Say>`, whose voice names (alice, Polly.Joanna)
    /// espeak-ng does not have: the first of `voice`, `language` and the default voice that
    /// espeak-ng has is used.
    #[pyo3(signature = (text, voice=None, language=None))]
    fn synthesize_8k<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        voice: Option<&str>,
        language: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let samples = py.detach(|| {
            let speech = self
                .tts
                .synthesize_for_say_blocking(text, voice, language)?;
            resample(&speech.samples, speech.rate, PHONE_RATE).map_err(|e| {
                ProviderError::InvalidConfig {
                    provider: "espeak-ng",
                    detail: format!("its speech cannot be resampled to 8 kHz: {e}"),
                }
            })
        })?;
        Ok(pcm_bytes(py, &samples))
    }

    fn __repr__(&self) -> String {
        format!(
            "<trialrun EspeakSpeech voice={:?} rate_wpm={} at {} Hz>",
            self.voice(),
            self.rate_wpm(),
            self.sample_rate()
        )
    }
}

/// 16-bit little-endian mono PCM resampled from `from_rate` to `to_rate` (each 8000, 16000,
/// 22050 or 24000 Hz). Raises ValueError for another rate or an odd number of bytes.
#[pyfunction]
fn resample_pcm16<'py>(
    py: Python<'py>,
    pcm: &[u8],
    from_rate: u32,
    to_rate: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let samples = pcm_samples(pcm)?;
    let out = py
        .detach(|| resample(&samples, from_rate, to_rate))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(pcm_bytes(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EspeakSpeech>()?;
    m.add_function(wrap_pyfunction!(resample_pcm16, m)?)?;
    Ok(())
}
