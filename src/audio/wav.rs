//! WAV files: reading 8- or 16-bit PCM and mu-law WAVs into [`Audio`], writing 16-bit PCM.
//! hound 3.5 reads only PCM and float WAVs; mu-law WAVs go through [`super::mulaw_wav`].

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use super::mulaw_wav;

/// Decoded audio: sample rate and one sample vector per channel (left first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// Samples per second.
    pub rate: u32,
    /// One vector of 16-bit samples per channel, all the same length.
    pub channels: Vec<Vec<i16>>,
}

impl Audio {
    /// Mono audio from one vector of samples.
    pub fn mono(rate: u32, samples: Vec<i16>) -> Self {
        Self {
            rate,
            channels: vec![samples],
        }
    }

    /// Number of samples per channel.
    pub fn len(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in milliseconds.
    #[cfg(test)]
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.len() as u64 * 1000 / u64::from(self.rate)
    }
}

/// Why a WAV could not be read or written.
#[derive(Debug)]
pub enum WavError {
    /// The file could not be opened, read or written.
    Io(std::io::Error),
    /// hound rejected the file.
    Hound(hound::Error),
    /// The file is a WAV, but not in a format handled here.
    Unsupported(String),
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "WAV I/O error: {e}"),
            Self::Hound(e) => write!(f, "WAV error: {e}"),
            Self::Unsupported(what) => write!(f, "unsupported WAV: {what}"),
        }
    }
}

impl std::error::Error for WavError {}

impl From<std::io::Error> for WavError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<hound::Error> for WavError {
    fn from(e: hound::Error) -> Self {
        match e {
            hound::Error::IoError(io) => Self::Io(io),
            other => Self::Hound(other),
        }
    }
}

/// Reads a WAV file (8/16-bit PCM or 8-bit mu-law, any channel count and rate).
#[cfg(test)]
pub fn read_wav(path: &Path) -> Result<Audio, WavError> {
    read_wav_bytes(&std::fs::read(path)?)
}

/// Reads a WAV held in memory.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Audio, WavError> {
    if mulaw_wav::is_mulaw_wav(bytes) {
        return mulaw_wav::parse(bytes);
    }
    let reader = hound::WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    let interleaved = read_pcm_samples(reader, spec)?;
    Ok(Audio {
        rate: spec.sample_rate,
        channels: deinterleave(&interleaved, spec.channels),
    })
}

/// Reads all samples of a PCM WAV as 16-bit values.
fn read_pcm_samples(
    reader: hound::WavReader<Cursor<&[u8]>>,
    spec: hound::WavSpec,
) -> Result<Vec<i16>, WavError> {
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => {
            Ok(reader.into_samples::<i16>().collect::<Result<_, _>>()?)
        }
        (hound::SampleFormat::Int, 8) => Ok(reader
            .into_samples::<i8>()
            .map(|s| s.map(|v| i16::from(v) << 8))
            .collect::<Result<_, _>>()?),
        (format, bits) => Err(WavError::Unsupported(format!(
            "{bits}-bit {format:?} samples"
        ))),
    }
}

/// Splits interleaved samples into one vector per channel.
pub fn deinterleave(interleaved: &[i16], channels: u16) -> Vec<Vec<i16>> {
    let n = usize::from(channels.max(1));
    (0..n)
        .map(|c| interleaved.iter().skip(c).step_by(n).copied().collect())
        .collect()
}

/// Writes mono 16-bit PCM to a WAV file.
#[cfg(test)]
pub fn write_wav_mono(path: &Path, rate: u32, samples: &[i16]) -> Result<(), WavError> {
    write_wav(path, &Audio::mono(rate, samples.to_vec()))
}

/// Writes audio with any number of channels as a 16-bit PCM WAV file.
pub fn write_wav(path: &Path, audio: &Audio) -> Result<(), WavError> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_wav_to(file, audio)
}

/// Audio as the bytes of a 16-bit PCM WAV file (e.g. to upload for transcription).
pub fn write_wav_bytes(audio: &Audio) -> Result<Vec<u8>, WavError> {
    let mut bytes = Cursor::new(Vec::new());
    write_wav_to(&mut bytes, audio)?;
    Ok(bytes.into_inner())
}

fn write_wav_to<W: std::io::Write + std::io::Seek>(out: W, audio: &Audio) -> Result<(), WavError> {
    let channels = u16::try_from(audio.channels.len())
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| WavError::Unsupported(format!("{} channels", audio.channels.len())))?;
    let spec = hound::WavSpec {
        channels,
        sample_rate: audio.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(out, spec)?;
    for i in 0..audio.len() {
        for channel in &audio.channels {
            writer.write_sample(channel.get(i).copied().unwrap_or(0))?;
        }
    }
    writer.finalize()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh path in the system temp dir, unique per test and process.
    pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("trialrun-audio-{}-{name}", std::process::id()))
    }

    #[test]
    fn wav_bytes_round_trip() {
        let audio = Audio::mono(16000, (0..160).map(|i| i * 100).collect());
        let bytes = write_wav_bytes(&audio).unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(read_wav_bytes(&bytes).unwrap(), audio);
    }

    #[test]
    fn mono_round_trip_at_each_rate() {
        for rate in [8000, 16000, 24000] {
            let samples: Vec<i16> = (0..1000).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
            let path = temp_path(&format!("mono-{rate}.wav"));
            write_wav_mono(&path, rate, &samples).unwrap();
            let audio = read_wav(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(audio, Audio::mono(rate, samples));
            assert_eq!(audio.duration_ms(), 1000 * 1000 / u64::from(rate));
        }
    }

    #[test]
    fn stereo_round_trip_keeps_channel_order() {
        let audio = Audio {
            rate: 8000,
            channels: vec![vec![1, 2, 3], vec![-1, -2, -3]],
        };
        let path = temp_path("stereo.wav");
        write_wav(&path, &audio).unwrap();
        let back = read_wav(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back, audio);
    }

    #[test]
    fn errors_are_clear() {
        assert!(matches!(
            read_wav(&temp_path("missing.wav")),
            Err(WavError::Io(_))
        ));
        assert!(matches!(
            read_wav_bytes(b"not a wav file at all"),
            Err(WavError::Hound(_))
        ));
        let empty = Audio {
            rate: 8000,
            channels: vec![],
        };
        assert!(matches!(
            write_wav(&temp_path("none.wav"), &empty),
            Err(WavError::Unsupported(_))
        ));
    }
}
