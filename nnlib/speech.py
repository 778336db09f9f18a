"""Speech recognition utilities: from a waveform to features, spoken-digit data, and from CTC
outputs back to text, with the error rate that scores it.

Features (``log_mel_spectrogram``)
    A waveform x[n], sampled at ``sample_rate`` Hz, is cut into overlapping *frames* (25 ms
    long, one every 10 ms), each multiplied by a Hann window and Fourier-transformed
    (``stft``, the short-time Fourier transform); the power ``|X_t(f)|²`` is pooled by triangular
    filters evenly spaced on the *mel* scale, m = 2595·log₁₀(1 + f/700), which spaces
    frequencies roughly as the ear resolves them (``mel_filterbank``); the log compresses the
    huge dynamic range of speech power. One frame becomes one feature vector.

Data
    ``synthetic_digits`` makes spoken-like utterances of digit strings offline and
    deterministically: each digit is a short sequence of phone-like segments (vowels whose
    formants glide, noise bursts for consonants) rendered by a source-filter synthesiser, with
    the speaker (pitch, vocal-tract length, speaking rate), the durations, the pauses and the
    noise level drawn at random, so that nobody knows which frame belongs to which digit.
    ``load_fsdd`` reads the Free Spoken Digit Dataset (real recordings of one digit each,
    downloaded and verified by ``nnlib.download.fetch``) from its archive in memory, and
    ``concatenate_recordings`` joins random recordings into multi-digit utterances.

Decoding and scoring
    A CTC model emits per-frame log-probabilities over the labels and a blank (``nnlib.nn.ctc``
    derives the loss). ``greedy_decode`` takes the most probable class of every frame and
    applies the collapse rule (``collapse``: merge repeats, drop blanks);
    ``prefix_beam_search`` keeps the ``beam_width`` most probable *labellings*, each summed
    over all its alignments. ``edit_distance`` counts the fewest substitutions, insertions and
    deletions between two sequences; ``character_error_rate`` divides their sum by the number
    of reference characters.
"""

import io
import math
import re
import tarfile
import wave
from dataclasses import dataclass

import numpy as np

from . import backend
from .download import RemoteFile, data_home, fetch
from .errors import DTypeError, ShapeError

SAMPLE_RATE = 8000      # Hz: telephone bandwidth (speech up to 4 kHz), and the FSDD's rate
DIGITS = "0123456789"


# --- features --------------------------------------------------------------------------------------
def hann_window(length):
    """The periodic Hann window w[n] = ½ − ½·cos(2πn/length), n = 0 … length − 1 (SciPy's
    ``get_window("hann", length)``): frames that overlap by half sum to exactly 1."""
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2 * np.pi * n / length)


def frame_signal(x, frame_length, hop_length):
    """The frames of a 1-D signal as rows: (1 + ⌊(len(x) − frame_length) / hop_length⌋,
    frame_length), row t holding x[t·hop_length : t·hop_length + frame_length]. A signal
    shorter than one frame gives no frames; the samples after the last whole frame are dropped."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ShapeError(f"frame_signal: x must be a 1-D signal, got shape {x.shape}")
    for name, value in (("frame_length", frame_length), ("hop_length", hop_length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"frame_signal: {name} must be a positive integer, got {value!r}")
    count = max(0, 1 + (len(x) - frame_length) // hop_length)
    starts = hop_length * np.arange(count)
    return x[starts[:, None] + np.arange(frame_length)[None, :]]


def stft(x, n_fft=256, hop_length=80, win_length=200):
    """The short-time Fourier transform: complex (frames, n_fft // 2 + 1), row t the spectrum
    X_t(f_k) = Σ_n w[n]·x[t·hop_length + n]·e^(−2πi·kn/n_fft) of frame t, at the frequencies
    f_k = k·sample_rate/n_fft, k = 0 … n_fft/2 (a real signal's other half mirrors these).

    Each frame of ``win_length`` samples is multiplied by a Hann window (so that its edges do
    not look like jumps) and padded with zeros to ``n_fft`` samples. The defaults at 8 kHz:
    25 ms frames every 10 ms, 129 frequencies 31.25 Hz apart.
    """
    if win_length > n_fft:
        raise ValueError(f"stft: win_length ({win_length}) must not exceed n_fft ({n_fft})")
    frames = frame_signal(x, win_length, hop_length)
    return np.fft.rfft(frames * hann_window(win_length), n=n_fft, axis=1)


def hz_to_mel(f):
    """The mel scale (the HTK formula): m = 2595·log₁₀(1 + f/700); about linear below 1 kHz,
    logarithmic above."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """The inverse of :func:`hz_to_mel`: f = 700·(10^(m/2595) − 1)."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels, n_fft, sample_rate=SAMPLE_RATE, f_min=0.0, f_max=None):
    """Triangular filters, (n_mels, n_fft // 2 + 1): row j rises from 0 at edge j to 1 at edge
    j + 1 and falls back to 0 at edge j + 2, the n_mels + 2 edges evenly spaced in mel from
    ``f_min`` to ``f_max`` (default sample_rate / 2). Between the first and the last centre,
    neighbouring triangles add up to 1: the filters share out every frequency's power."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"mel_filterbank: need 0 ≤ f_min < f_max ≤ sample_rate/2 = {sample_rate / 2}, "
                         f"got f_min={f_min}, f_max={f_max}")
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_spectrogram(x, sample_rate=SAMPLE_RATE, n_fft=256, hop_length=80, win_length=200, n_mels=32,
                        eps=1e-6):
    """log(mel-filtered power spectrum + eps), float32 (frames, n_mels): one feature vector per
    10 ms with the defaults. ``eps`` keeps silence (power 0) finite."""
    power = np.abs(stft(x, n_fft, hop_length, win_length)) ** 2          # (frames, n_fft/2 + 1)
    mel = power @ mel_filterbank(n_mels, n_fft, sample_rate).T           # (frames, n_mels)
    return np.log(mel + eps).astype(np.float32)


# --- synthetic spoken digits -----------------------------------------------------------------------
# Formants F1, F2 (Hz) of a few vowels of an adult male voice, after the classic measurements of
# American English vowels; F3 is held at 2500 Hz. A speaker's vocal tract scales them all.
VOWELS = {"i": (270, 2290), "ɪ": (390, 1990), "e": (480, 2050), "ɛ": (530, 1840), "a": (730, 1090),
          "ʌ": (640, 1190), "ɔ": (570, 840), "o": (450, 830), "u": (300, 870), "ə": (500, 1500),
          "n": (250, 1450)}
# Each digit, roughly as English says it: segments ("voiced", from vowel, to vowel, share of the
# digit's duration) whose formants glide from one vowel to the other, and ("noise", low Hz,
# high Hz, share) for the noise of a consonant (s, f, t …) in that band.
DIGIT_SOUNDS = {
    "0": (("noise", 2800, 4000, 0.2), ("voiced", "ɪ", "o", 0.8)),                        # zero
    "1": (("voiced", "u", "ʌ", 0.7), ("voiced", "n", "n", 0.3)),                         # one
    "2": (("noise", 2500, 4000, 0.15), ("voiced", "u", "u", 0.85)),                      # two
    "3": (("noise", 1200, 4000, 0.25), ("voiced", "ɪ", "i", 0.75)),                      # three
    "4": (("noise", 800, 3000, 0.25), ("voiced", "ɔ", "ɔ", 0.75)),                       # four
    "5": (("noise", 800, 3000, 0.2), ("voiced", "a", "ɪ", 0.8)),                         # five
    "6": (("noise", 2800, 4000, 0.25), ("voiced", "ɪ", "ɪ", 0.45), ("noise", 2800, 4000, 0.3)),  # six
    "7": (("noise", 2800, 4000, 0.25), ("voiced", "ɛ", "ə", 0.75)),                      # seven
    "8": (("voiced", "e", "i", 0.8), ("noise", 2500, 4000, 0.2)),                        # eight
    "9": (("voiced", "n", "n", 0.2), ("voiced", "a", "ɪ", 0.6), ("voiced", "n", "n", 0.2)),  # nine
}
_FORMANT_GAINS = np.array([1.0, 0.5, 0.25])       # F1 strongest: the source's spectrum falls with f
_BANDWIDTHS = np.array([90.0, 120.0, 180.0])      # Hz
_F3 = 2500.0
_SYNTH_FRAME, _SYNTH_HOP = 256, 128               # the synthesiser's filter frames (32 ms, half overlap)


@dataclass(frozen=True)
class Speaker:
    """A synthetic voice: ``pitch`` f0 in Hz, ``formant_scale`` (a shorter vocal tract has
    higher formants: children and most women > 1) and ``rate`` (a digit's duration factor)."""

    pitch: float
    formant_scale: float
    rate: float


def random_speakers(n, seed):
    """``n`` speakers drawn with ``seed``: pitch 85–255 Hz, formants scaled by 0.85–1.2 (higher
    for higher voices, as for real ones, plus a personal part), speaking rates 0.8–1.25."""
    rng = np.random.default_rng(seed)
    pitch = rng.uniform(85, 255, n)
    scale = 0.85 + 0.25 * (pitch - 85) / 170 + rng.uniform(-0.05, 0.1, n)
    rate = rng.uniform(0.8, 1.25, n)
    return [Speaker(float(p), float(s), float(r)) for p, s, r in zip(pitch, scale, rate)]


def _smoothstep(s):
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(s, 0.0, 1.0))


_SILENCE, _VOICED, _NOISE = 0, 1, 2


def _render(text, speaker, rng, sample_rate):
    """One utterance of the digit string ``text``: (waveform, (start, stop) sample of each digit).

    Source-filter synthesis: the source, a pulse train at the speaker's pitch where the sound
    is voiced and white noise in consonants, is cut into half-overlapping Hann frames; each
    frame's spectrum is multiplied by the spectral envelope of its moment (three formant peaks
    gliding between two vowels, or a noise band), and the frames are added back. Hann windows
    that overlap by half sum to 1, so the result is the source through a filter that changes
    from frame to frame.
    """
    # The plan, piece by piece: silence, then each digit's segments and a pause of 0–80 ms.
    pieces = [(_SILENCE, (0, 0, 0, 0), int(rng.uniform(0.05, 0.15) * sample_rate))]
    bounds, position = [], pieces[0][2]
    for digit in text:
        duration = 0.25 * speaker.rate * rng.uniform(0.8, 1.25)
        start = position
        for kind, a, b, share in DIGIT_SOUNDS[digit]:
            length = max(1, int(share * duration * sample_rate))
            shape = VOWELS[a] + VOWELS[b] if kind == "voiced" else (a, b, 0, 0)   # formants or band
            pieces.append((_VOICED if kind == "voiced" else _NOISE, shape, length))
            position += length
        bounds.append((start, position))
        pieces.append((_SILENCE, (0, 0, 0, 0), int(rng.uniform(0.0, 0.08) * sample_rate)))
        position += pieces[-1][2]
    pieces.append((_SILENCE, (0, 0, 0, 0), int(rng.uniform(0.05, 0.15) * sample_rate)))
    kinds = np.array([p[0] for p in pieces])
    shapes = np.array([p[1] for p in pieces], dtype=float) * speaker.formant_scale
    lengths = np.array([p[2] for p in pieces])
    samples = int(lengths.sum())
    frames = math.ceil(samples / _SYNTH_HOP)
    total = (frames + 1) * _SYNTH_HOP                        # whole frames cover every sample

    # The source: loudness rises in 15 ms and falls in 30 ms over each digit; the pitch falls
    # by 20 % over the utterance and wobbles a little; one pulse per pitch period.
    loud = np.zeros(total)
    for start, stop in bounds:
        t = np.arange(stop - start) / sample_rate
        loud[start:stop] = np.minimum(1.0, np.minimum(t / 0.015, (t[-1] - t) / 0.03))
    kind = np.zeros(total, dtype=kinds.dtype)
    kind[:samples] = np.repeat(kinds, lengths)
    n = np.arange(total)
    f0 = speaker.pitch * rng.uniform(0.95, 1.05) * (1.1 - 0.2 * n / total) * (
        1 + 0.02 * np.sin(2 * np.pi * 4.0 * n / sample_rate + rng.uniform(0, 2 * np.pi)))
    pulses = np.diff(np.floor(np.cumsum(f0) / sample_rate), prepend=0.0)
    source = loud * np.where(kind == _VOICED, pulses, 0.15 * (kind == _NOISE) * rng.standard_normal(total))

    # The envelope of each frame, from the piece at its centre (how far into the piece it is
    # sets how far the formants have glided).
    freqs = np.fft.rfftfreq(_SYNTH_FRAME, 1.0 / sample_rate)
    centre = np.minimum(np.arange(frames) * _SYNTH_HOP + _SYNTH_FRAME // 2, samples - 1)
    ends = np.cumsum(lengths)
    where = np.searchsorted(ends, centre, side="right")
    progress = 1 - (ends[where] - centre) / lengths[where]
    glide = _smoothstep((progress - 0.15) / 0.7)[:, None]
    f1f2 = (1 - glide) * shapes[where, :2] + glide * shapes[where, 2:]
    formants = np.concatenate([f1f2, np.full((frames, 1), _F3 * speaker.formant_scale)], axis=1)
    detuning = (freqs[None, None, :] - formants[:, :, None]) / _BANDWIDTHS[None, :, None]
    peaks = _FORMANT_GAINS @ (1 / (1 + detuning * detuning))      # resonance peaks: (frames, bins)
    band = (freqs >= shapes[where, :1]) & (freqs <= shapes[where, 1:2])
    envelope = np.where((kinds[where] == _VOICED)[:, None], peaks, 0.5 * band)

    spectra = np.fft.rfft(frame_signal(source, _SYNTH_FRAME, _SYNTH_HOP) * hann_window(_SYNTH_FRAME), axis=1)
    filtered = np.fft.irfft(spectra * envelope, n=_SYNTH_FRAME, axis=1)
    y = np.zeros(total)
    y[:frames * _SYNTH_HOP] += filtered[:, :_SYNTH_HOP].reshape(-1)          # overlap-add: first halves,
    y[_SYNTH_HOP:total] += filtered[:, _SYNTH_HOP:].reshape(-1)              # second halves a hop later
    y = y[:samples]
    return y / (np.abs(y).max() + 1e-12), bounds


def synthesize(texts, speakers, seed=0, *, snr_db=(10.0, 30.0), sample_rate=SAMPLE_RATE, return_bounds=False):
    """Waveforms (float32, peak about 1) of the digit strings ``texts``, ``speakers[i]`` saying
    ``texts[i]``, with white noise at a signal-to-noise ratio drawn from ``snr_db`` (dB).

    Durations, pauses and pitch wobble are drawn from a generator seeded with ``seed``, so the
    same call gives the same waveforms on every machine. ``return_bounds=True`` also returns,
    per utterance, the (start, stop) sample of every digit: the alignment a recogniser is never
    told.
    """
    if len(texts) != len(speakers):
        raise ValueError(f"synthesize: one speaker per text, got {len(texts)} texts and "
                         f"{len(speakers)} speakers")
    rng = np.random.default_rng(seed)
    waves, all_bounds = [], []
    for text, speaker in zip(texts, speakers):
        if not text or any(ch not in DIGIT_SOUNDS for ch in text):
            raise ValueError(f"synthesize: texts must be non-empty strings of the digits {DIGITS}, "
                             f"got {text!r}")
        y, bounds = _render(text, speaker, rng, sample_rate)
        snr = rng.uniform(*snr_db)
        noise = rng.standard_normal(len(y)) * math.sqrt(np.mean(y ** 2) / 10 ** (snr / 10))
        waves.append((y + noise).astype(np.float32))
        all_bounds.append(bounds)
    return (waves, all_bounds) if return_bounds else waves


def synthetic_digits(n, speakers, seed=0, *, min_digits=2, max_digits=4, **options):
    """``n`` random utterances: ``(waves, texts)``, text i a string of ``min_digits`` to
    ``max_digits`` random digits, said by a speaker drawn from ``speakers`` (a list of
    :class:`Speaker`); ``options`` go to :func:`synthesize`. Deterministic for a given seed."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"synthetic_digits: need 1 ≤ min_digits ≤ max_digits, got {min_digits}, "
                         f"{max_digits}")
    rng = np.random.default_rng(seed)
    texts = ["".join(rng.choice(list(DIGITS), rng.integers(min_digits, max_digits + 1))) for _ in range(n)]
    who = [speakers[i] for i in rng.integers(0, len(speakers), n)]
    return synthesize(texts, who, seed=int(rng.integers(2**31)), **options), texts


# --- the Free Spoken Digit Dataset ---------------------------------------------------------------
# Release v1.0.9 of github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0): 2,500
# recordings, 8 kHz mono 16-bit WAV, of 5 speakers saying each digit 50 times, named
# "{digit}_{speaker}_{index}.wav". Size and SHA-256 as TensorFlow Datasets publishes them for this
# archive (github.com/tensorflow/datasets, tensorflow_datasets/datasets/spoken_digit/checksums.tsv).
FSDD_FILE = RemoteFile(
    "free-spoken-digit-dataset-1.0.9.tar.gz",
    "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0", 11975353,
    ("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz",))
FSDD_OFFLINE_HINT = ("To work without a network, use nnlib.speech.synthetic_digits(): synthetic spoken "
                     "digits generated in code.")
_FSDD_NAME = re.compile(r"(?:^|/)recordings/([0-9])_([A-Za-z]+)_([0-9]+)\.wav$")


@dataclass(frozen=True)
class Recording:
    """One FSDD recording: float32 ``wave`` in [−1, 1), the ``digit`` said ("0" … "9"), the
    ``speaker``'s name and the recording's ``index`` (0–49; the official test set is 0–4)."""

    wave: np.ndarray
    digit: str
    speaker: str
    index: int


def read_wav(data, expected_rate=SAMPLE_RATE):
    """The samples of a mono PCM WAV file (its bytes) as float32 in [−1, 1). 8-bit WAV stores
    unsigned bytes around 128, 16-bit signed little-endian integers."""
    with wave.open(io.BytesIO(data), "rb") as w:
        channels, width, rate, count = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        frames = w.readframes(count)
    if channels != 1:
        raise ValueError(f"read_wav: expected a mono file, got {channels} channels")
    if rate != expected_rate:
        raise ValueError(f"read_wav: expected a sample rate of {expected_rate} Hz, got {rate} Hz")
    if width == 1:
        return (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    raise ValueError(f"read_wav: expected 8- or 16-bit PCM samples, got {8 * width}-bit")


def read_fsdd_archive(path):
    """Every recording in an FSDD release archive (``.tar.gz``), read in memory without
    extracting anything: a list of :class:`Recording`, in the archive's order."""
    recordings = []
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            match = _FSDD_NAME.search(member.name)
            if member.isfile() and match:
                digit, speaker, index = match.groups()
                recordings.append(Recording(read_wav(archive.extractfile(member).read()), digit, speaker,
                                            int(index)))
    if not recordings:
        raise ValueError(f"{path} holds no recordings/<digit>_<speaker>_<index>.wav files; is it the FSDD "
                         "archive?")
    return recordings


def load_fsdd(root=None, *, download=True, progress_bar=True):
    """The Free Spoken Digit Dataset as ``(train, test)`` lists of :class:`Recording`, split the
    official way: indices 0–4 of every digit and speaker are the test set (10 %).

    The archive (≈ 12 MB) is downloaded once into ``nnlib.download.data_home(root)`` and verified
    by :func:`nnlib.download.fetch`; with ``download=False`` a missing file is an error.
    """
    path = data_home(root) / FSDD_FILE.name
    if download:
        path = fetch(FSDD_FILE, root, progress_bar=progress_bar, offline_hint=FSDD_OFFLINE_HINT)
    elif not path.is_file():
        raise FileNotFoundError(f"{path} is missing and download=False. {FSDD_OFFLINE_HINT}")
    recordings = read_fsdd_archive(path)
    return ([r for r in recordings if r.index >= 5], [r for r in recordings if r.index < 5])


def concatenate_recordings(recordings, n, seed=0, *, min_digits=2, max_digits=4, pause=(0.0, 0.15),
                           sample_rate=SAMPLE_RATE):
    """``n`` multi-digit utterances ``(waves, texts)`` made by joining random single-digit
    ``recordings`` (a list of :class:`Recording`) of one speaker each, with silent pauses drawn
    from ``pause`` (seconds) between them. An FSDD file holds one digit: joining several gives
    CTC sequences to align."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"concatenate_recordings: need 1 ≤ min_digits ≤ max_digits, got {min_digits}, "
                         f"{max_digits}")
    by_speaker = {}
    for r in recordings:
        by_speaker.setdefault(r.speaker, []).append(r)
    speakers = sorted(by_speaker)
    if not speakers:
        raise ValueError("concatenate_recordings: no recordings given")
    rng = np.random.default_rng(seed)
    waves, texts = [], []
    for _ in range(n):
        pool = by_speaker[speakers[rng.integers(len(speakers))]]
        chosen = [pool[i] for i in rng.integers(0, len(pool), rng.integers(min_digits, max_digits + 1))]
        parts = []
        for r in chosen:
            parts += [np.zeros(int(rng.uniform(*pause) * sample_rate), np.float32), r.wave]
        parts.append(np.zeros(int(rng.uniform(*pause) * sample_rate), np.float32))
        waves.append(np.concatenate(parts))
        texts.append("".join(r.digit for r in chosen))
    return waves, texts


# --- CTC decoding and the character error rate -----------------------------------------------------
def _log_probs_2d(log_probs, blank, who):
    """``log_probs`` as a float64 NumPy (T, C) array, checked, with ``blank`` a class index."""
    if not backend.is_array(log_probs):
        raise DTypeError(f"{who}: log_probs must be a NumPy array or torch tensor of shape (T, C), "
                         f"got {type(log_probs).__name__}")
    lp = backend.to_numpy(log_probs).astype(np.float64)
    if lp.ndim != 2 or lp.shape[1] < 1:
        raise ShapeError(f"{who}: log_probs must have shape (T, C), one utterance's frames by classes, "
                         f"got {lp.shape}")
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < lp.shape[1]:
        raise ValueError(f"{who}: blank must be a class index in [0, {lp.shape[1] - 1}], got {blank!r}")
    if np.isnan(lp).any():
        frames = np.flatnonzero(np.isnan(lp).any(axis=1))
        raise ValueError(f"{who}: log_probs must not hold NaN, got NaN in frame(s) {frames[:5].tolist()}")
    return lp


def collapse(path, blank=0):
    """The CTC collapse rule B: merge runs of equal classes, then delete the blanks.
    ``collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]``: a blank separates a repeated label."""
    labels, previous = [], None
    for k in path:
        k = int(k)
        if k != previous and k != blank:
            labels.append(k)
        previous = k
    return labels


def greedy_decode(log_probs, blank=0):
    """Best-path decoding: the collapse of the most probable class of every frame of a (T, C)
    array of log-probabilities (one utterance). Fast, but the most probable *alignment* need
    not spell the most probable *labelling*."""
    lp = _log_probs_2d(log_probs, blank, "greedy_decode")
    return collapse(lp.argmax(axis=1), blank)


def prefix_beam_search(log_probs, beam_width=8, blank=0):
    """CTC prefix beam search over a (T, C) array of log-probabilities: ``(labels, log_p)``,
    the most probable labelling found and log p(labels | x) summed over all its alignments.

    After frame t, a prefix ℓ (a labelling so far) has two probabilities: p_b, of the alignments
    of frames 1…t that collapse to ℓ and end in a blank, and p_nb, of those ending in ℓ's last
    label. Frame t + 1 with class k moves them on:

    - k = blank: ℓ stays, p_b(ℓ) += (p_b + p_nb)(ℓ)·y(blank);
    - k = ℓ's last label: without a blank between, the run goes on, p_nb(ℓ) += p_nb(ℓ)·y(k);
      after a blank, it is a new label: p_nb(ℓ + k) += p_b(ℓ)·y(k);
    - any other label: p_nb(ℓ + k) += (p_b + p_nb)(ℓ)·y(k).

    Only the ``beam_width`` prefixes with the largest p_b + p_nb survive each frame. With a
    beam wide enough to keep every prefix, this is the exact most probable labelling (the
    sums are exact); a narrow beam may miss it. All in log space.
    """
    lp = _log_probs_2d(log_probs, blank, "prefix_beam_search")
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"prefix_beam_search: beam_width must be a positive integer, got {beam_width!r}")
    labels = np.array([k for k in range(lp.shape[1]) if k != blank], dtype=np.int64)
    position = np.full(lp.shape[1], -1)
    position[labels] = np.arange(len(labels))             # class → column of the extensions
    prefixes = [()]
    log_b, log_nb = np.zeros(1), np.full(1, -np.inf)      # log p_b, log p_nb of each prefix
    with np.errstate(invalid="ignore"):                   # −inf − (−inf) inside logaddexp is fine
        for y in lp:
            total = np.logaddexp(log_b, log_nb)
            last = np.array([p[-1] if p else -1 for p in prefixes])
            # Staying at the same prefix: a blank, or the last label once more.
            stay_b = total + y[blank]
            stay_nb = np.where(last >= 0, log_nb + y[np.maximum(last, 0)], -np.inf)
            # Growing by label k: after a blank only, if k repeats the last label.
            grow = np.where(labels[None, :] == last[:, None], log_b[:, None], total[:, None]) + y[labels]
            # A grown prefix that is already in the beam is the same labelling: merge the two.
            index = {p: i for i, p in enumerate(prefixes)}
            for i, p in enumerate(prefixes):
                parent = index.get(p[:-1]) if p else None
                if parent is not None:
                    stay_nb[i] = np.logaddexp(stay_nb[i], grow[parent, position[p[-1]]])
                    grow[parent, position[p[-1]]] = -np.inf
            # Keep the beam_width most probable of the stayed and the grown prefixes.
            scores = np.concatenate([np.logaddexp(stay_b, stay_nb), grow.ravel()])
            keep = np.argsort(-scores, kind="stable")[:beam_width]
            finite = keep[scores[keep] > -np.inf]               # merged growths are −inf: never twice
            keep = finite if len(finite) else keep[:1]
            n = len(prefixes)
            grown_from, grown_label = np.divmod(keep - n, len(labels))
            prefixes = [prefixes[j] if j < n else prefixes[grown_from[m]] + (int(labels[grown_label[m]]),)
                        for m, j in enumerate(keep)]
            is_stay = keep < n
            log_b = np.where(is_stay, stay_b[np.minimum(keep, n - 1)], -np.inf)
            log_nb = np.where(is_stay, stay_nb[np.minimum(keep, n - 1)], scores[keep])
    best = int(np.argmax(np.logaddexp(log_b, log_nb)))
    return list(prefixes[best]), float(np.logaddexp(log_b[best], log_nb[best]))


def edit_distance(reference, hypothesis):
    """The Levenshtein distance: the fewest substitutions, insertions and deletions that turn
    ``reference`` into ``hypothesis`` (any two sequences: strings, lists of labels).

    Dynamic programming: D[i][j], the distance between the first i items of one and the first j
    of the other, is min(D[i−1][j] + 1, D[i][j−1] + 1, D[i−1][j−1] + [a_i ≠ b_j]), from
    D[i][0] = i and D[0][j] = j; one row at a time.
    """
    ref, hyp = list(reference), list(hypothesis)
    row = list(range(len(hyp) + 1))                   # D[0][j] = j
    for i, a in enumerate(ref, start=1):
        previous, row = row, [i] + [0] * len(hyp)     # D[i][0] = i
        for j, b in enumerate(hyp, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a != b))
    return row[-1]


def character_error_rate(references, hypotheses):
    """Σ edit_distance(ref, hyp) / Σ len(ref) over pairs of sequences: the share of reference
    characters substituted, deleted or inserted. It can exceed 1 (many insertions)."""
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"character_error_rate: one hypothesis per reference, got {len(references)} "
                         f"references and {len(hypotheses)} hypotheses")
    characters = sum(len(r) for r in references)
    if characters == 0:
        raise ValueError("character_error_rate: the references hold no characters")
    return sum(edit_distance(r, h) for r, h in zip(references, hypotheses)) / characters

