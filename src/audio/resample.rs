//! Streaming resampling of mono 16-bit PCM between 8, 16, 22.05 and 24 kHz, with rubato's
//! FFT resampler. Output is aligned with input: the resampler's delay is trimmed off.

use std::fmt;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// Sample rates the resampler converts between (22050 Hz is espeak-ng's output).
pub const SUPPORTED_RATES: [u32; 4] = [8000, 16000, 22050, 24000];

/// Why a resampler could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResampleError {
    /// The rate is not one of [`SUPPORTED_RATES`].
    UnsupportedRate(u32),
    /// rubato refused the configuration.
    Construction(String),
}

impl fmt::Display for ResampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedRate(rate) => write!(
                f,
                "unsupported sample rate {rate} Hz (supported: 8000, 16000, 22050, 24000)"
            ),
            Self::Construction(msg) => write!(f, "could not build resampler: {msg}"),
        }
    }
}

impl std::error::Error for ResampleError {}

/// Streaming mono resampler: feed chunks of any size with `process`, end with `flush`.
pub struct Resampler {
    from: u32,
    to: u32,
    /// None when both rates are equal (samples pass through unchanged).
    inner: Option<Fft<f32>>,
    /// Input samples waiting for a full chunk.
    pending: Vec<f32>,
    /// Output samples of the startup delay still to drop.
    to_trim: usize,
    /// Input samples received since the start (or the last flush).
    samples_in: u64,
    /// Output samples returned since the start (or the last flush).
    samples_out: u64,
}

impl Resampler {
    /// Makes a resampler from `from` Hz to `to` Hz (each one of [`SUPPORTED_RATES`]).
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        for rate in [from, to] {
            if !SUPPORTED_RATES.contains(&rate) {
                return Err(ResampleError::UnsupportedRate(rate));
            }
        }
        let inner = if from == to {
            None
        } else {
            let chunk = (from / 50) as usize; // 20 ms of input per FFT chunk
            let fft = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
                .map_err(|e| ResampleError::Construction(e.to_string()))?;
            Some(fft)
        };
        let to_trim = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            from,
            to,
            inner,
            pending: Vec::new(),
            to_trim,
            samples_in: 0,
            samples_out: 0,
        })
    }

    /// Resamples the next piece of the stream; returns what is ready (may be empty).
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        self.samples_in += input.len() as u64;
        if self.inner.is_none() {
            self.samples_out += input.len() as u64;
            return input.to_vec();
        }
        self.pending
            .extend(input.iter().map(|&s| f32::from(s) / 32768.0));
        let mut out = Vec::new();
        while self.pending.len() >= self.chunk_len() {
            let chunk: Vec<f32> = self.pending.drain(..self.chunk_len()).collect();
            self.run_chunk(&chunk, &mut out);
        }
        self.emit(out)
    }

    /// Returns the rest of the stream (the tail held back by the resampler) and resets it.
    pub fn flush(&mut self) -> Vec<i16> {
        let expected = (self.samples_in * u64::from(self.to)).div_ceil(u64::from(self.from));
        let mut out = Vec::new();
        if self.inner.is_some() {
            let mut chunk = std::mem::take(&mut self.pending);
            chunk.resize(self.chunk_len(), 0.0);
            self.run_chunk(&chunk, &mut out);
            while self.samples_out + self.trimmed_len(&out) < expected {
                let silence = vec![0.0; self.chunk_len()];
                self.run_chunk(&silence, &mut out);
            }
        }
        let mut tail = self.emit(out);
        tail.truncate(expected.saturating_sub(self.samples_out - tail.len() as u64) as usize);
        self.reset();
        tail
    }

    /// Forgets all state, as if newly made.
    pub fn reset(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.reset();
        }
        self.pending.clear();
        self.to_trim = self.inner.as_ref().map_or(0, |r| r.output_delay());
        self.samples_in = 0;
        self.samples_out = 0;
    }

    fn chunk_len(&self) -> usize {
        self.inner.as_ref().map_or(1, |r| r.input_frames_next())
    }

    /// How many samples of `out` will survive trimming of the startup delay.
    fn trimmed_len(&self, out: &[f32]) -> u64 {
        out.len().saturating_sub(self.to_trim) as u64
    }

    /// Resamples one full chunk, appending the raw (untrimmed) output to `out`.
    fn run_chunk(&mut self, chunk: &[f32], out: &mut Vec<f32>) {
        let inner = self.inner.as_mut().expect("only called when resampling");
        let input = InterleavedSlice::new(chunk, 1, chunk.len())
            .expect("a mono slice is a valid one-channel buffer");
        let output = inner
            .process(&input, None)
            .expect("chunk length is the resampler's own input_frames_next");
        out.extend(output.take_data());
    }

    /// Drops the startup delay, converts to i16 and counts the output.
    fn emit(&mut self, out: Vec<f32>) -> Vec<i16> {
        let skip = self.to_trim.min(out.len());
        self.to_trim -= skip;
        let samples: Vec<i16> = out[skip..].iter().map(|&x| to_i16(x)).collect();
        self.samples_out += samples.len() as u64;
        samples
    }
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Resamples a whole clip in one go (same result as `process` then `flush`).
pub fn resample(input: &[i16], from: u32, to: u32) -> Result<Vec<i16>, ResampleError> {
    let mut resampler = Resampler::new(from, to)?;
    let mut out = resampler.process(input);
    out.extend(resampler.flush());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::goertzel::tone_amplitude;

    fn sine(freq: f32, rate: u32, len: usize, amplitude: f32) -> Vec<i16> {
        (0..len)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (amplitude * (2.0 * std::f32::consts::PI * freq * t).sin()).round() as i16
            })
            .collect()
    }

    /// Zero crossings per second of the middle part of a signal (twice the frequency).
    fn crossing_rate(samples: &[i16], rate: u32) -> f32 {
        let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
        let crossings = mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        crossings as f32 * rate as f32 / mid.len() as f32
    }

    #[test]
    fn unsupported_rates_are_refused() {
        assert_eq!(
            Resampler::new(44100, 8000).err(),
            Some(ResampleError::UnsupportedRate(44100))
        );
        let err = Resampler::new(8000, 11025).err().unwrap();
        assert!(err.to_string().contains("11025"));
    }

    #[test]
    fn sine_keeps_frequency_and_amplitude_through_8k_16k_8k() {
        let input = sine(1000.0, 8000, 8000, 10000.0);
        let up = resample(&input, 8000, 16000).unwrap();
        let down = resample(&up, 16000, 8000).unwrap();
        assert_eq!(up.len(), 16000);
        assert_eq!(down.len(), 8000);
        let mid = |s: &[i16]| s[s.len() / 4..s.len() * 3 / 4].to_vec();
        let amp_up = tone_amplitude(&mid(&up), 1000.0, 16000);
        let amp_down = tone_amplitude(&mid(&down), 1000.0, 8000);
        assert!((amp_up / 10000.0 - 1.0).abs() < 0.03, "amp_up={amp_up}");
        assert!(
            (amp_down / 10000.0 - 1.0).abs() < 0.03,
            "amp_down={amp_down}"
        );
        assert!((crossing_rate(&up, 16000) - 2000.0).abs() < 10.0);
        assert!((crossing_rate(&down, 8000) - 2000.0).abs() < 10.0);
        // Aligned with the input: sample by sample close to the original in the middle.
        let max_diff = input[2000..6000]
            .iter()
            .zip(&down[2000..6000])
            .map(|(a, b)| (a - b).abs())
            .max();
        assert!(max_diff.unwrap() < 500, "max_diff={max_diff:?}");
    }

    #[test]
    fn every_rate_pair_gives_length_times_ratio() {
        for from in SUPPORTED_RATES {
            for to in SUPPORTED_RATES {
                let input = sine(440.0, from, from as usize / 2 + 37, 8000.0);
                let out = resample(&input, from, to).unwrap();
                let expected = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from));
                assert_eq!(out.len() as u64, expected, "{from}->{to}");
                let amp = tone_amplitude(&out[out.len() / 4..out.len() * 3 / 4], 440.0, to);
                assert!((amp / 8000.0 - 1.0).abs() < 0.05, "{from}->{to}: amp={amp}");
            }
        }
    }

    #[test]
    fn chunked_processing_equals_one_shot() {
        let input = sine(700.0, 8000, 4000, 12000.0);
        let one_shot = resample(&input, 8000, 24000).unwrap();
        let mut resampler = Resampler::new(8000, 24000).unwrap();
        let mut chunked = Vec::new();
        for frame in input.chunks(160) {
            chunked.extend(resampler.process(frame));
        }
        // Streaming: output comes out within one chunk plus the resampler's delay.
        assert!(chunked.len() + 2 * 480 >= one_shot.len());
        chunked.extend(resampler.flush());
        assert_eq!(chunked.len(), one_shot.len());
        let max_diff = chunked
            .iter()
            .zip(&one_shot)
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap();
        assert!(max_diff <= 1, "max_diff={max_diff}");
        // Odd-sized pieces too.
        let mut odd = Vec::new();
        for piece in input.chunks(97) {
            odd.extend(resampler.process(piece));
        }
        odd.extend(resampler.flush());
        assert_eq!(odd, chunked);
    }

    #[test]
    fn same_rate_passes_through() {
        let input = sine(300.0, 16000, 1000, 5000.0);
        assert_eq!(resample(&input, 16000, 16000).unwrap(), input);
    }
}
