//! DTMF (touch-tone) digits: generation, and streaming detection of the eight tones' power
//! (what Goertzel's algorithm gives, from a `ToneBank`) on overlapping blocks, with energy,
//! twist and debouncing checks.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::goertzel::{dot, ToneBank};

/// Row (low group) frequencies in Hz.
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];

/// Column (high group) frequencies in Hz.
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Keypad layout: KEYS[row][column].
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// A character that is not a DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownDigit(pub char);

impl fmt::Display for UnknownDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a DTMF digit (0-9, *, #, A-D)", self.0)
    }
}

impl std::error::Error for UnknownDigit {}

/// Row and column frequencies of a key (A-D also lower case).
pub fn frequencies(digit: char) -> Option<(f32, f32)> {
    let digit = digit.to_ascii_uppercase();
    KEYS.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|&k| k == digit)
            .map(|c| (ROW_HZ[r], COL_HZ[c]))
    })
}

/// PCM for `digits`: each tone `tone_ms` long, `gap_ms` of silence between digits;
/// `amplitude` is the peak of each of the two sines (keep it under 16384 to avoid clipping).
pub fn generate(
    digits: &str,
    rate: u32,
    tone_ms: u32,
    gap_ms: u32,
    amplitude: i16,
) -> Result<Vec<i16>, UnknownDigit> {
    let tone_len = (u64::from(rate) * u64::from(tone_ms) / 1000) as usize;
    let gap_len = (u64::from(rate) * u64::from(gap_ms) / 1000) as usize;
    let mut out = Vec::new();
    for (i, digit) in digits.chars().enumerate() {
        let (low, high) = frequencies(digit).ok_or(UnknownDigit(digit))?;
        if i > 0 {
            out.resize(out.len() + gap_len, 0);
        }
        out.extend((0..tone_len).map(|n| dual_tone(n, rate, low, high, amplitude)));
    }
    Ok(out)
}

/// Length of each key tone a phone sends, in ms: long and loud enough for any detector.
pub const TONE_MS: u32 = 120;
/// Silence between key tones, and after the last one, in ms.
pub const GAP_MS: u32 = 80;
/// Peak of each of a key tone's two sines.
pub const AMPLITUDE: i16 = 8000;

/// Key tones for `digits` as a phone line carries them: mu-law at [`super::PHONE_RATE`],
/// [`TONE_MS`] each with [`GAP_MS`] of silence between and after them, so the last tone is
/// not cut by audio queued right after it.
pub fn phone_tones(digits: &str) -> Result<Vec<u8>, UnknownDigit> {
    let pcm = generate(digits, super::PHONE_RATE, TONE_MS, GAP_MS, AMPLITUDE)?;
    let mut bytes = super::mulaw::encode_all(&pcm);
    let gap = (super::PHONE_RATE * GAP_MS / 1000) as usize;
    bytes.resize(bytes.len() + gap, super::mulaw::SILENCE);
    Ok(bytes)
}

fn dual_tone(n: usize, rate: u32, low: f32, high: f32, amplitude: i16) -> i16 {
    let t = n as f64 / f64::from(rate);
    let w = |f: f32| (2.0 * std::f64::consts::PI * f64::from(f) * t).sin();
    let v = f64::from(amplitude) * (w(low) + w(high));
    v.round().clamp(-32768.0, 32767.0) as i16
}

/// Thresholds of the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct DtmfConfig {
    /// Sample rate of the audio pushed in.
    pub rate: u32,
    /// Quietest block (RMS, dBFS) considered at all.
    pub min_level_dbfs: f32,
    /// Least share of the block's energy that the two tones must hold (0..1).
    pub min_tone_share: f32,
    /// Largest level difference between the row and column tones, in dB.
    pub max_twist_db: f32,
    /// How much stronger (dB) the best tone of a group must be than the others.
    pub min_peak_ratio_db: f32,
    /// Consecutive blocks with the same key needed to report it.
    pub confirm_blocks: u32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        Self {
            rate: super::PHONE_RATE,
            min_level_dbfs: -45.0,
            min_tone_share: 0.7,
            max_twist_db: 8.0,
            min_peak_ratio_db: 8.0,
            confirm_blocks: 2,
        }
    }
}

/// Streaming DTMF detector: push audio, get each key press once with its sample offset.
#[derive(Debug)]
pub struct DtmfDetector {
    config: DtmfConfig,
    block_len: usize,
    hop: usize,
    banks: Arc<Banks>,
    buffer: Vec<f32>,
    /// Stream offset of buffer[0].
    buffer_start: u64,
    /// Key seen in the previous block, how many blocks in a row, and where the run began.
    run: Option<(char, u32, u64)>,
    /// True once the current run has been reported (a held key is reported once).
    reported: bool,
}

impl DtmfDetector {
    /// A detector for 8 kHz audio with default thresholds.
    pub fn new() -> Self {
        Self::with_config(DtmfConfig::default())
    }

    /// A detector with the given thresholds (blocks of 205 samples per 8 kHz, half overlapping).
    pub fn with_config(config: DtmfConfig) -> Self {
        let block_len = (205 * u64::from(config.rate) / 8000).max(2) as usize;
        let hop = block_len / 2;
        Self {
            banks: banks(config.rate, block_len),
            config,
            block_len,
            hop,
            buffer: Vec::new(),
            buffer_start: 0,
            run: None,
            reported: false,
        }
    }

    /// Feeds audio; returns the keys newly detected, each with the stream offset (in samples)
    /// of the first block that held its tone (within about half a block of the tone's start).
    pub fn push(&mut self, samples: &[i16]) -> Vec<(char, u64)> {
        self.buffer
            .extend(samples.iter().map(|&s| f32::from(s) / 32768.0));
        let mut found = Vec::new();
        while self.buffer.len() >= self.block_len {
            let key = self.classify(&self.buffer[..self.block_len]);
            if let Some(event) = self.track(key) {
                found.push(event);
            }
            self.buffer.drain(..self.hop);
            self.buffer_start += self.hop as u64;
        }
        found
    }

    /// Debounces per-block decisions: a key is reported once after enough blocks in a row.
    fn track(&mut self, key: Option<char>) -> Option<(char, u64)> {
        let Some(key) = key else {
            self.run = None;
            self.reported = false;
            return None;
        };
        let run = match self.run {
            Some((k, count, start)) if k == key => (k, count + 1, start),
            _ => {
                self.reported = false;
                (key, 1, self.buffer_start)
            }
        };
        self.run = Some(run);
        if run.1 >= self.config.confirm_blocks && !self.reported {
            self.reported = true;
            return Some((run.0, run.2));
        }
        None
    }

    /// The key whose two tones dominate this block, if any.
    fn classify(&self, block: &[f32]) -> Option<char> {
        let n = block.len() as f32;
        let energy = dot(block, block);
        let level_db = 10.0 * (energy / n).max(1e-12).log10() + 3.01; // dBFS re full-scale square
        if level_db < self.config.min_level_dbfs + 3.01 {
            return None;
        }
        // Normalised so that a lone sine at the probed frequency scores 1.
        let scale = 2.0 / (n * energy);
        // Columns only once a row stands out: most audio (speech, tones, noise) has none, and
        // is then rejected for half the work.
        let rows = self.banks.rows.powers(block).map(|p| p * scale);
        let (r, row_p) = self.dominant(&rows)?;
        let cols = self.banks.cols.powers(block).map(|p| p * scale);
        let (c, col_p) = self.dominant(&cols)?;
        let twist_db = 10.0 * (row_p / col_p).log10();
        let accepted = row_p + col_p >= self.config.min_tone_share
            && twist_db.abs() <= self.config.max_twist_db;
        accepted.then_some(KEYS[r][c])
    }

    /// Index and power of the strongest tone of a group, if it clearly beats the others.
    fn dominant(&self, powers: &[f32; 4]) -> Option<(usize, f32)> {
        let (best, &p) = powers
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        let ratio = 10f32.powf(self.config.min_peak_ratio_db / 10.0);
        let clear = powers
            .iter()
            .enumerate()
            .all(|(i, &q)| i == best || q * ratio <= p);
        (clear && p > 0.0).then_some((best, p))
    }
}

/// The row and column tone banks for one sample rate.
#[derive(Debug)]
struct Banks {
    rows: ToneBank<4>,
    cols: ToneBank<4>,
}

/// The banks for `rate`, made once and shared by every detector at that rate: a call server
/// runs a detector per stream, and one copy of the tables stays in cache.
fn banks(rate: u32, block_len: usize) -> Arc<Banks> {
    static MADE: Mutex<Vec<(u32, Arc<Banks>)>> = Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, banks)) = made.iter().find(|(r, _)| *r == rate) {
        return banks.clone();
    }
    let banks = Arc::new(Banks {
        rows: ToneBank::new(&ROW_HZ, rate, block_len),
        cols: ToneBank::new(&COL_HZ, rate, block_len),
    });
    made.push((rate, banks.clone()));
    banks
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::mulaw;

    const ALL: &str = "0123456789*#ABCD";

    fn detect(audio: &[i16]) -> Vec<(char, u64)> {
        let mut detector = DtmfDetector::new();
        let mut found = Vec::new();
        for frame in audio.chunks(160) {
            found.extend(detector.push(frame));
        }
        found
    }

    fn digits(found: &[(char, u64)]) -> String {
        found.iter().map(|&(c, _)| c).collect()
    }

    /// Deterministic white-ish noise from a linear congruential generator.
    fn lcg_noise(len: usize, amplitude: i32) -> Vec<i16> {
        let mut state: u32 = 12345;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (((state >> 16) as i32 - 32768) * amplitude / 32768) as i16
            })
            .collect()
    }

    #[test]
    fn every_digit_is_detected() {
        for digit in ALL.chars() {
            let mut audio = vec![0; 400];
            audio.extend(generate(&digit.to_string(), 8000, 100, 0, 8000).unwrap());
            audio.extend(vec![0; 400]);
            let found = detect(&audio);
            assert_eq!(digits(&found), digit.to_string());
            let offset = found[0].1;
            assert!((330..=510).contains(&offset), "{digit}: offset {offset}");
        }
    }

    #[test]
    fn sequence_is_detected_in_order_once_each() {
        let audio = generate("1234#*", 8000, 80, 50, 6000).unwrap();
        let found = detect(&audio);
        assert_eq!(digits(&found), "1234#*");
        // Digits start every 130 ms = 1040 samples.
        for (i, &(_, offset)) in found.iter().enumerate() {
            let start = i as u64 * 1040;
            assert!(
                offset + 70 >= start && offset <= start + 110,
                "digit {i} at {offset}"
            );
        }
    }

    #[test]
    fn held_key_gives_one_digit() {
        let audio = generate("5", 8000, 2000, 0, 8000).unwrap();
        assert_eq!(digits(&detect(&audio)), "5");
    }

    #[test]
    fn survives_mulaw_and_quiet_levels_and_16k() {
        let audio = generate("9876543210", 8000, 70, 50, 3000).unwrap();
        let telephone = mulaw::decode_all(&mulaw::encode_all(&audio));
        assert_eq!(digits(&detect(&telephone)), "9876543210");
        let quiet = generate("147", 8000, 100, 60, 300).unwrap(); // about -38 dBFS
        assert_eq!(
            digits(&detect(&mulaw::decode_all(&mulaw::encode_all(&quiet)))),
            "147"
        );
        let wide = generate("*0#", 16000, 100, 60, 6000).unwrap();
        let mut detector = DtmfDetector::with_config(DtmfConfig {
            rate: 16000,
            ..DtmfConfig::default()
        });
        assert_eq!(digits(&detector.push(&wide)), "*0#");
    }

    #[test]
    fn tones_with_noise_are_still_detected() {
        let tones = generate("0#", 8000, 100, 60, 8000).unwrap();
        let noise = lcg_noise(tones.len(), 1500);
        let mixed: Vec<i16> = tones
            .iter()
            .zip(&noise)
            .map(|(a, b)| a.saturating_add(*b))
            .collect();
        assert_eq!(digits(&detect(&mixed)), "0#");
    }

    #[test]
    fn no_false_digits_on_silence_noise_or_speech_like_tones() {
        assert!(detect(&vec![0; 16000]).is_empty());
        assert!(detect(&lcg_noise(80000, 20000)).is_empty());
        // A voiced-speech-like harmonic series (130 Hz fundamental) with a slow pitch glide.
        let speech: Vec<i16> = (0..40000)
            .map(|n| {
                let t = n as f64 / 8000.0;
                let f0 = 130.0 + 20.0 * (2.0 * std::f64::consts::PI * 0.5 * t).sin();
                let v: f64 = (1..=25)
                    .map(|k| {
                        (2.0 * std::f64::consts::PI * f0 * k as f64 * t).sin() / (k as f64).sqrt()
                    })
                    .sum();
                (v * 2500.0).clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        assert!(detect(&speech).is_empty());
        // A single sine, even at a DTMF frequency, is not a key.
        let single: Vec<i16> = (0..8000)
            .map(|n| {
                (10000.0 * (2.0 * std::f64::consts::PI * 770.0 * n as f64 / 8000.0).sin()) as i16
            })
            .collect();
        assert!(detect(&single).is_empty());
    }

    #[test]
    fn unknown_digit_is_an_error() {
        assert_eq!(generate("12x", 8000, 50, 50, 1000), Err(UnknownDigit('x')));
        assert_eq!(frequencies('a'), Some((697.0, 1633.0)));
        assert_eq!(frequencies('#'), Some((941.0, 1477.0)));
    }
}
