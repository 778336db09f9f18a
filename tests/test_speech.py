"""nnlib.speech: features against SciPy and the definitions, the synthetic digits (deterministic,
where the sound is), the FSDD reader on archives built here, CTC decoding against a brute-force
sum over every alignment and against a plain reference beam search, and the edit distance
against its recursive definition."""

import functools
import io
import itertools
import math
import tarfile
import wave

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlib import download, nn, speech
from nnlib.backend import to_device
from nnlib.errors import DTypeError, ShapeError
from local_server import Server, remote_for


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --- features ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [8, 200, 255])
def test_hann_window_is_scipys_periodic_hann(length):
    np.testing.assert_allclose(speech.hann_window(length), scipy.signal.get_window("hann", length),
                               rtol=0, atol=1e-15)


def test_frame_signal_cuts_overlapping_rows_and_drops_the_tail():
    x = np.arange(10.0)
    frames = speech.frame_signal(x, 4, 3)
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert speech.frame_signal(np.arange(11.0), 4, 3).shape == (3, 4)       # sample 10 is in no frame
    assert speech.frame_signal(np.arange(3.0), 4, 3).shape == (0, 4)        # shorter than one frame
    with pytest.raises(ShapeError, match=r"1-D signal, got shape \(2, 5\)"):
        speech.frame_signal(np.zeros((2, 5)), 4, 3)
    with pytest.raises(ValueError, match="hop_length must be a positive integer, got 0"):
        speech.frame_signal(x, 4, 0)


@pytest.mark.parametrize("n_fft, hop, win", [(256, 80, 200), (64, 16, 64), (512, 100, 400)])
def test_stft_equals_scipys_without_its_scaling_and_padding(n_fft, hop, win):
    x = np.random.default_rng(n_fft).standard_normal(2000)
    ours = speech.stft(x, n_fft=n_fft, hop_length=hop, win_length=win)
    # SciPy's "spectrum" scaling divides by Σ w; boundary=None, padded=False: the same frames as ours.
    _, _, theirs = scipy.signal.stft(x, window="hann", nperseg=win, noverlap=win - hop, nfft=n_fft,
                                     boundary=None, padded=False, detrend=False)
    theirs = theirs.T * speech.hann_window(win).sum()
    assert ours.shape == theirs.shape == (1 + (2000 - win) // hop, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="win_length .400. must not exceed n_fft .256."):
        speech.stft(x, n_fft=256, win_length=400)


def test_mel_scale_is_the_htk_formula_and_inverts():
    assert speech.hz_to_mel(0.0) == 0.0
    assert speech.hz_to_mel(700.0) == pytest.approx(2595 * math.log10(2), rel=1e-15)
    assert abs(speech.hz_to_mel(1000.0) - 1000.0) < 0.02                   # the scale's anchor: 1 kHz
    f = np.linspace(0, 8000, 17)
    np.testing.assert_allclose(speech.mel_to_hz(speech.hz_to_mel(f)), f, rtol=1e-12, atol=1e-9)


def _filterbank_by_definition(n_mels, n_fft, rate, f_min, f_max):
    """Each triangle written out bin by bin."""
    low, high = speech.hz_to_mel(f_min), speech.hz_to_mel(f_max)
    edges = [speech.mel_to_hz(low + j * (high - low) / (n_mels + 1)) for j in range(n_mels + 2)]
    bank = np.zeros((n_mels, n_fft // 2 + 1))
    for j in range(n_mels):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        for k in range(n_fft // 2 + 1):
            f = k * rate / n_fft
            if lo <= f <= mid:
                bank[j, k] = (f - lo) / (mid - lo)
            elif mid < f <= hi:
                bank[j, k] = (hi - f) / (hi - mid)
    return bank


@pytest.mark.parametrize("n_mels, n_fft, rate, f_min, f_max", [(32, 256, 8000, 0.0, None),
                                                                (10, 512, 16000, 100.0, 7000.0)])
def test_mel_filterbank_triangles_share_out_every_frequency(n_mels, n_fft, rate, f_min, f_max):
    bank = speech.mel_filterbank(n_mels, n_fft, rate, f_min, f_max)
    top = rate / 2 if f_max is None else f_max
    np.testing.assert_allclose(bank, _filterbank_by_definition(n_mels, n_fft, rate, f_min, top), atol=1e-12)
    centres = speech.mel_to_hz(np.linspace(speech.hz_to_mel(f_min), speech.hz_to_mel(top), n_mels + 2))[1:-1]
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    inside = (freqs >= centres[0]) & (freqs <= centres[-1])
    np.testing.assert_allclose(bank[:, inside].sum(axis=0), 1.0, atol=1e-12)
    assert bank.min() >= 0 and bank.max() <= 1
    with pytest.raises(ValueError, match="f_max=5000"):
        speech.mel_filterbank(10, 256, 8000, 0.0, 5000)


def test_log_mel_spectrogram_is_the_log_of_mel_pooled_scipy_power():
    x = np.random.default_rng(0).standard_normal(4000)
    _, _, z = scipy.signal.stft(x, window="hann", nperseg=200, noverlap=120, nfft=256, boundary=None,
                                padded=False, detrend=False)
    power = np.abs(z.T * speech.hann_window(200).sum()) ** 2
    expected = np.log(power @ speech.mel_filterbank(32, 256, 8000).T + 1e-6)
    ours = speech.log_mel_spectrogram(x)
    assert ours.dtype == np.float32 and ours.shape == (1 + (4000 - 200) // 80, 32)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tone", [300.0, 1000.0, 2500.0])
def test_a_pure_tone_lights_the_mel_band_centred_nearest_to_it(tone):
    x = np.sin(2 * np.pi * tone * np.arange(8000) / 8000)
    band = speech.log_mel_spectrogram(x).mean(axis=0).argmax()
    centres = speech.mel_to_hz(np.linspace(0, speech.hz_to_mel(4000), 34))[1:-1]
    assert band == np.abs(centres - tone).argmin()


# --- synthetic digits -----------------------------------------------------------------------------
def test_synthetic_digits_are_deterministic_and_shaped_as_promised():
    speakers = speech.random_speakers(3, seed=0)
    waves, texts = speech.synthetic_digits(6, speakers, seed=5, min_digits=1, max_digits=3)
    again, texts_again = speech.synthetic_digits(6, speakers, seed=5, min_digits=1, max_digits=3)
    other, _ = speech.synthetic_digits(6, speakers, seed=6, min_digits=1, max_digits=3)
    assert texts == texts_again and all(np.array_equal(a, b) for a, b in zip(waves, again))
    assert not all(len(a) == len(b) and np.array_equal(a, b) for a, b in zip(waves, other))
    for w, text in zip(waves, texts):
        assert 1 <= len(text) <= 3 and set(text) <= set(speech.DIGITS)
        assert w.dtype == np.float32 and w.ndim == 1 and np.isfinite(w).all()
        # 0.1–0.3 s of silence, 0.16–0.39 s per digit, pauses of at most 80 ms
        seconds = len(w) / speech.SAMPLE_RATE
        assert 0.1 + 0.15 * len(text) < seconds < 0.3 + 0.4 * len(text) + 0.08 * len(text)


def test_random_speakers_cover_the_documented_ranges():
    speakers = speech.random_speakers(200, seed=1)
    pitch = np.array([s.pitch for s in speakers])
    scale = np.array([s.formant_scale for s in speakers])
    rate = np.array([s.rate for s in speakers])
    assert 85 <= pitch.min() and pitch.max() <= 255 and 0.8 <= scale.min() and scale.max() <= 1.2
    assert 0.8 <= rate.min() and rate.max() <= 1.25
    assert np.corrcoef(pitch, scale)[0, 1] > 0.5                         # higher voices, higher formants


def test_the_sound_is_where_the_digits_are_and_voiced_at_the_speakers_pitch():
    speaker = speech.Speaker(pitch=120.0, formant_scale=1.0, rate=1.0)
    (y,), (bounds,) = speech.synthesize(["19"], [speaker], seed=0, snr_db=(300.0, 300.0), return_bounds=True)
    inside = np.zeros(len(y), dtype=bool)
    for start, stop in bounds:
        inside[start:stop] = True
    assert len(bounds) == 2 and np.mean(y[inside] ** 2) > 1e4 * np.mean(y[~inside] ** 2)
    assert bounds[0][1] <= bounds[1][0]                                   # in order
    # The vowel of "one": its autocorrelation peaks at one pitch period (pitch × 0.9–1.16).
    start, stop = bounds[0]
    vowel = y[start + (stop - start) // 4: start + (stop - start) // 2]
    r = np.correlate(vowel, vowel, "full")[len(vowel) - 1:]
    lags = np.arange(len(r))
    period = lags[40:100][np.argmax(r[40:100])]                          # 80–200 Hz
    assert 0.85 * 120 < speech.SAMPLE_RATE / period < 1.2 * 120


def test_noise_is_added_at_the_requested_signal_to_noise_ratio():
    speaker = [speech.Speaker(150.0, 1.0, 1.0)]
    clean = speech.synthesize(["5"], speaker, seed=3, snr_db=(300.0, 300.0))[0]
    noisy = speech.synthesize(["5"], speaker, seed=3, snr_db=(10.0, 10.0))[0]
    snr = 10 * np.log10(np.mean(clean.astype(float) ** 2) / np.mean((noisy - clean).astype(float) ** 2))
    assert abs(snr - 10.0) < 0.5


@pytest.mark.parametrize("call, match", [
    (lambda: speech.synthesize(["12a"], speech.random_speakers(1, 0)), "digits 0123456789, got '12a'"),
    (lambda: speech.synthesize([""], speech.random_speakers(1, 0)), "got ''"),
    (lambda: speech.synthesize(["1", "2"], speech.random_speakers(1, 0)), "2 texts and 1 speakers"),
    (lambda: speech.synthetic_digits(2, speech.random_speakers(1, 0), min_digits=3, max_digits=2),
     "min_digits ≤ max_digits, got 3, 2"),
])
def test_bad_synthesis_requests_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the FSDD reader --------------------------------------------------------------------------------
def _wav_bytes(samples, width=2, rate=8000, channels=1):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buffer.getvalue()


def test_read_wav_scales_8_and_16_bit_pcm_to_plus_minus_one():
    pcm16 = np.array([0, 16384, -32768, 32767], dtype="<i2")
    np.testing.assert_array_equal(speech.read_wav(_wav_bytes(pcm16)), pcm16 / 32768.0)
    pcm8 = np.array([128, 192, 0, 255], dtype=np.uint8)
    np.testing.assert_array_equal(speech.read_wav(_wav_bytes(pcm8, width=1)), (pcm8 - 128.0) / 128.0)
    with pytest.raises(ValueError, match="mono file, got 2 channels"):
        speech.read_wav(_wav_bytes(np.zeros(8, "<i2"), channels=2))
    with pytest.raises(ValueError, match="8000 Hz, got 16000 Hz"):
        speech.read_wav(_wav_bytes(pcm16, rate=16000))
    with pytest.raises(ValueError, match="got 24-bit"):
        speech.read_wav(_wav_bytes(np.zeros(9, np.uint8), width=3))


def _fsdd_archive(path, files):
    """A tar.gz laid out like the FSDD release: {name: int16 samples} under recordings/, plus a README."""
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in [("README.md", b"# FSDD")] + [
                (f"recordings/{n}", _wav_bytes(s)) for n, s in files.items()]:
            info = tarfile.TarInfo(f"free-spoken-digit-dataset-1.0.9/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


def _recordings(rng):
    return {f"{d}_{who}_{i}.wav": rng.integers(-3000, 3000, rng.integers(50, 120)).astype("<i2")
            for d in "370" for who in ("theo", "jackson") for i in (0, 4, 5, 49)}


def test_read_fsdd_archive_reads_every_recording_in_memory(tmp_path):
    files = _recordings(np.random.default_rng(0))
    recordings = speech.read_fsdd_archive(_fsdd_archive(tmp_path / "fsdd.tar.gz", files))
    assert len(recordings) == len(files) and list((tmp_path).iterdir()) == [tmp_path / "fsdd.tar.gz"]
    for r in recordings:
        np.testing.assert_array_equal(r.wave, files[f"{r.digit}_{r.speaker}_{r.index}.wav"] / 32768.0)
    assert {r.speaker for r in recordings} == {"theo", "jackson"}
    assert {r.digit for r in recordings} == set("370")
    with pytest.raises(ValueError, match="holds no recordings"):
        speech.read_fsdd_archive(_fsdd_archive(tmp_path / "empty.tar.gz", {}))


def test_load_fsdd_downloads_verifies_caches_and_splits_by_index(tmp_path, monkeypatch):
    files = _recordings(np.random.default_rng(1))
    payload = _fsdd_archive(tmp_path / "served.tar.gz", files).read_bytes()
    server = Server()
    try:
        monkeypatch.setattr(speech, "FSDD_FILE", remote_for(server, speech.FSDD_FILE.name, payload))
        train, test = speech.load_fsdd(tmp_path / "cache", progress_bar=False)
        served = len(server.requests)
        train_again, _ = speech.load_fsdd(tmp_path / "cache", download=False)   # from the cache
        assert len(server.requests) == served == 1
    finally:
        server.close()
    assert sorted(r.index for r in test) == [0] * 6 + [4] * 6              # the official test set: 0–4
    assert sorted({r.index for r in train}) == [5, 49] and len(train) == 12
    assert [r.digit + r.speaker for r in train_again] == [r.digit + r.speaker for r in train]


def test_load_fsdd_offline_says_what_is_missing_and_what_to_use(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="download=False") as info:
        speech.load_fsdd(tmp_path, download=False)
    assert "synthetic_digits" in str(info.value)

    def offline(url, timeout):
        import socket
        import urllib.error
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(download, "_open_url", offline)
    with pytest.raises(download.DownloadError, match="seems to be offline") as info:
        speech.load_fsdd(tmp_path, progress_bar=False)
    assert speech.FSDD_FILE.urls[0] in str(info.value) and "synthetic_digits" in str(info.value)


def test_concatenate_recordings_joins_one_speakers_digits_with_pauses():
    rng = np.random.default_rng(2)
    recordings = [speech.Recording(rng.uniform(0.1, 1, 100 + 10 * i).astype(np.float32), str(i % 10),
                                   ("a", "b")[i % 2], i) for i in range(20)]
    waves, texts = speech.concatenate_recordings(recordings, 30, seed=4, min_digits=2, max_digits=3,
                                                 pause=(0.0, 0.01))
    again, _ = speech.concatenate_recordings(recordings, 30, seed=4, min_digits=2, max_digits=3,
                                             pause=(0.0, 0.01))
    assert all(np.array_equal(a, b) for a, b in zip(waves, again))
    for w, text in zip(waves, texts):
        assert 2 <= len(text) <= 3
        pieces = np.split(w, np.flatnonzero(np.diff((w != 0).astype(int)) == 1) + 1)
        sounding = [p[p != 0] for p in pieces if (p != 0).any()]
        used = [next(r for r in recordings if len(r.wave) == len(s) and np.array_equal(r.wave, s))
                for s in sounding]
        assert "".join(r.digit for r in used) == text and len({r.speaker for r in used}) == 1
    with pytest.raises(ValueError, match="no recordings"):
        speech.concatenate_recordings([], 1)


# --- CTC decoding -----------------------------------------------------------------------------------
def test_collapse_merges_repeats_then_drops_blanks():
    assert speech.collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]
    assert speech.collapse([0, 0, 0]) == []
    assert speech.collapse([2, 2, 1, 0, 0, 1], blank=2) == [1, 0, 1]
    assert speech.collapse(np.array([3, 3, 3])) == [3]


def _labelling_probabilities(lp, blank):
    """{labelling: p(labelling | x)}, summed over all C^T alignments."""
    totals = {}
    frames, classes = lp.shape
    for path in itertools.product(range(classes), repeat=frames):
        label = tuple(speech.collapse(path, blank))
        totals[label] = totals.get(label, 0.0) + math.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return totals


@st.composite
def tiny_outputs(draw):
    frames, classes = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    blank = draw(st.integers(0, classes - 1))
    peaky = draw(st.sampled_from([0.5, 2.0, 4.0]))
    z = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal((frames, classes)) * peaky
    return _log_softmax(z), blank


@given(case=tiny_outputs())
@settings(max_examples=40, deadline=None, derandomize=True)
def test_a_wide_prefix_beam_finds_the_most_probable_labelling_and_its_probability(case):
    lp, blank = case
    totals = _labelling_probabilities(lp, blank)
    best = max(totals, key=totals.get)
    labels, log_p = speech.prefix_beam_search(lp, beam_width=10_000, blank=blank)
    assert totals[tuple(labels)] == pytest.approx(totals[best], rel=1e-12)   # ties: either is the best
    assert log_p == pytest.approx(math.log(totals[best]), rel=1e-10, abs=1e-12)
    if labels:  # log p(labels | x) is also −CTC loss
        loss = nn.CTCLoss(blank=blank, reduction="sum")(lp, np.array(labels), np.array(len(lp)),
                                                        np.array(len(labels)))
        assert -float(loss) == pytest.approx(log_p, rel=1e-10)
    path = lp.argmax(axis=1)
    assert speech.greedy_decode(lp, blank=blank) == speech.collapse(path, blank)


def _reference_beam_search(lp, beam_width, blank):
    """The prefix beam search written plainly: a dict of prefixes, every extension one at a time."""
    beams = {(): (0.0, -math.inf)}
    for y in lp:
        grown = {}

        def add(prefix, b=-math.inf, nb=-math.inf):
            old_b, old_nb = grown.get(prefix, (-math.inf, -math.inf))
            grown[prefix] = (np.logaddexp(old_b, b), np.logaddexp(old_nb, nb))

        for prefix, (b, nb) in beams.items():
            add(prefix, b=np.logaddexp(b, nb) + y[blank])
            for k in range(len(y)):
                if k == blank:
                    continue
                if prefix and prefix[-1] == k:
                    add(prefix, nb=nb + y[k])
                    add(prefix + (k,), nb=b + y[k])
                else:
                    add(prefix + (k,), nb=np.logaddexp(b, nb) + y[k])
        beams = dict(sorted(grown.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:beam_width])
    best = max(beams, key=lambda p: np.logaddexp(*beams[p]))
    return list(best), float(np.logaddexp(*beams[best]))


@pytest.mark.parametrize("beam_width", [1, 2, 3, 8])
@pytest.mark.parametrize("seed", range(6))
def test_narrow_beams_keep_the_same_prefixes_as_the_plain_algorithm(beam_width, seed):
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(3, 7))
    lp = _log_softmax(rng.standard_normal((12, classes)) * 2)
    blank = int(rng.integers(classes))
    labels, log_p = speech.prefix_beam_search(lp, beam_width, blank)
    ref_labels, ref_log_p = _reference_beam_search(lp, beam_width, blank)
    assert labels == ref_labels and log_p == pytest.approx(ref_log_p, rel=1e-12)


def test_greedy_decoding_can_miss_the_most_probable_labelling():
    # Two frames, P(blank) = 0.6 each: the best path is "blank blank" (0.36), so greedy says "",
    # but "a" has 0.4·0.4 + 0.4·0.6 + 0.6·0.4 = 0.64.
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert speech.greedy_decode(lp) == []
    labels, log_p = speech.prefix_beam_search(lp, beam_width=2)
    assert labels == [1] and log_p == pytest.approx(math.log(0.64), rel=1e-12)


def test_decoders_take_tensors_on_any_backend(device):
    lp = _log_softmax(np.random.default_rng(7).standard_normal((9, 4)) * 3)
    on_device = to_device(lp, device)
    assert speech.greedy_decode(on_device) == speech.greedy_decode(lp)
    assert speech.prefix_beam_search(on_device, 4) == speech.prefix_beam_search(lp, 4)
    assert speech.prefix_beam_search(torch.tensor(lp, dtype=torch.float32), 4)[0] == \
        speech.prefix_beam_search(lp, 4)[0]


@pytest.mark.parametrize("call, error, match", [
    (lambda: speech.greedy_decode(np.zeros(5)), ShapeError, r"shape \(T, C\).*got \(5,\)"),
    (lambda: speech.greedy_decode([[0.0, 0.0]]), DTypeError, "got list"),
    (lambda: speech.greedy_decode(np.zeros((3, 4)), blank=4), ValueError,
     r"blank must be a class index in \[0, 3\], got 4"),
    (lambda: speech.prefix_beam_search(np.zeros((3, 4)), beam_width=0), ValueError, "beam_width .* got 0"),
    (lambda: speech.prefix_beam_search(np.array([[0.0, np.nan]]), 2), ValueError, r"NaN.*frame\(s\) \[0\]"),
])
def test_bad_decoder_inputs_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- edit distance and the character error rate ------------------------------------------------------
def _edit_distance_by_recursion(a, b):
    @functools.lru_cache(maxsize=None)
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
    return d(len(a), len(b))


words = st.text(alphabet="abc", max_size=7)


@given(a=words, b=words)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_edit_distance_is_the_levenshtein_recursion(a, b):
    d = speech.edit_distance(a, b)
    assert d == _edit_distance_by_recursion(a, b) == speech.edit_distance(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert speech.edit_distance(list(a), list(b)) == d


def test_edit_distance_examples():
    assert speech.edit_distance("kitten", "sitting") == 3
    assert speech.edit_distance([1, 2, 3], []) == 3
    assert speech.edit_distance("", "") == 0


def test_character_error_rate_divides_all_edits_by_all_reference_characters():
    # "123" → "13": one deletion; "45" → "456": one insertion; 2 edits over 5 characters.
    assert speech.character_error_rate(["123", "45"], ["13", "456"]) == pytest.approx(0.4)
    assert speech.character_error_rate(["1"], ["222"]) == 3.0               # insertions: above 1
    with pytest.raises(ValueError, match="2 references and 1 hypotheses"):
        speech.character_error_rate(["1", "2"], ["1"])
    with pytest.raises(ValueError, match="no characters"):
        speech.character_error_rate([""], ["1"])
