"""Speed of the signal layer, in channel-seconds of audio per CPU-second, on one core.

Our receivers take all channels at once in 20 ms frames, as the media loop will feed them.
SpanDSP 0.0.6 (Debian ``libspandsp2``, loaded through ctypes as a comparison peer only) hears
the same audio, one channel at a time in one-second calls: its most favourable way to run.

Run: ``python bench/dsp_bench.py`` (or ``make bench``). ``--seconds`` sets the audio length per
channel. The figures are CPU time of this process (``time.process_time``), BLAS held to one
thread. Each receiver, ours and SpanDSP's, hears the audio ``--repeat`` times, the two taking
turns, and the best run of each counts: on a shared machine a burst of load then slows one run
of one side, not the figure.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotline.dsp import callerid, tones  # noqa: E402
from hotline.dsp.dtmf import DtmfReceiver  # noqa: E402
from hotline.dsp.linemodel import through_line  # noqa: E402
from hotline.dsp.progress import ProgressDetector  # noqa: E402
from tests import corpus  # noqa: E402
from tests.peers import spandsp  # noqa: E402

SAMPLE_RATE_HZ = 8000
FRAME_SAMPLES = 160  # 20 ms
DISTINCT_SIGNALS = 16  # channels repeat a pool of this many different signals
DTMF_CHANNEL_COUNTS = (1, 30, 240, 1000)
DTMF_SCENARIOS = (  # title, an 8-digit entry every so many seconds, real speech between
    ("callers speaking, a tracking number keyed every 30 s", 30.0, True),
    ("callers keying a tracking number every 5 s, line noise between", 5.0, False),
)
RECEIVER_CHANNELS = 240
CALLERID_EVERY_S = 10.0


def pool_to_channels(pool: list[np.ndarray], channels: int, rng: np.random.Generator) -> np.ndarray:
    """``channels`` rows from the pool, each rotated by a random time: callers do not key in step."""
    n = min(len(x) for x in pool)
    return np.stack([np.roll(pool[c % len(pool)][:n], rng.integers(n)) for c in range(channels)])


def dtmf_signal(seconds: float, rng: np.random.Generator, every_s: float, speech: np.ndarray | None) -> np.ndarray:
    """A caller keying an 8-digit tracking number (60 ms on, 90 ms off) every ``every_s``, with
    ``speech`` (real recorded voice, when given) in between, through a μ-law line with noise."""
    n = int(seconds * SAMPLE_RATE_HZ)
    x = np.zeros(n)
    if speech is not None:
        start = rng.integers(len(speech) - n)
        x += speech[start:start + n]
    period = int(every_s * SAMPLE_RATE_HZ)
    for at in range(0, n, period):
        digits = "".join(rng.choice(list(tones.DTMF_DIGITS), size=8))
        keys = tones.dtmf(digits, on_ms=60, off_ms=90, level_dbm0=-12, rng=rng)[:n - at]
        x[at:at + len(keys)] = keys
    return through_line(x, noise_dbm0=-45, codec="ulaw", rng=rng)


def real_speech() -> np.ndarray | None:
    """The talk-off corpus's speech end to end (Debian asterisk-core-sounds-en-wav), if installed."""
    try:
        return np.concatenate([samples for _, samples in corpus.speech()]).astype(np.float64)
    except FileNotFoundError:
        return None


def progress_signal(seconds: float, rng: np.random.Generator, index: int) -> np.ndarray:
    name = ("busy", "congestion", "ringback", "dial")[index % 4]
    x = tones.progress_tone("china", name, seconds * 1000, level_dbm0=-20, rng=rng)
    return through_line(x, noise_dbm0=-50, codec="alaw", rng=rng)


def callerid_signal(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """An MDMF caller-ID burst every ``CALLERID_EVERY_S`` on every line (a line that rings for a new
    call that often), line noise between, as before the first ring."""
    message = callerid.encode_mdmf(number="13800138000", name="ZHANG WEI", datetime="11261402")
    burst = callerid.modulate(message, level_dbm0=-20, rng=rng)
    period = int(CALLERID_EVERY_S * SAMPLE_RATE_HZ)
    x = np.zeros(int(seconds * SAMPLE_RATE_HZ))
    for start in range(0, len(x) - len(burst), period):
        x[start:start + len(burst)] = burst
    return through_line(x, noise_dbm0=-50, codec="ulaw", rng=rng)


def ours(make, audio: np.ndarray) -> tuple[float, int]:
    """CPU seconds for a new receiver ``make()`` to hear ``audio`` in 20 ms frames, and how many
    events it gave.

    Each frame is a contiguous ``(channels, 160)`` array, as the media loop hands it over; at the
    end, a receiver that batches its audio is flushed, so that it hears all of it."""
    count = audio.shape[1] // FRAME_SAMPLES
    frames = np.ascontiguousarray(audio[:, :count * FRAME_SAMPLES].reshape(audio.shape[0], count, FRAME_SAMPLES)
                                  .transpose(1, 0, 2))
    receiver = make()
    events = 0
    start = time.process_time()
    for frame in frames:
        events += len(receiver.process(frame))
    if hasattr(receiver, "flush"):  # what still waits for a whole analysis batch at the end
        events += len(receiver.flush())
    return time.process_time() - start, events


def theirs(make, audio: np.ndarray) -> tuple[float, int]:
    """CPU seconds for one SpanDSP receiver per channel to hear ``audio``, and its event count."""
    receivers = [make() for _ in range(audio.shape[0])]
    rows = [np.ascontiguousarray(row) for row in audio]
    events = 0
    start = time.process_time()
    for receiver, row in zip(receivers, rows):
        events += len(receiver.process(row))
    elapsed = time.process_time() - start
    for receiver in receivers:
        receiver.close()
    return elapsed, events


def best_of(repeat: int, *runs) -> list[tuple[float, int]]:
    """Each of ``runs`` (``(measure, make, audio)``) ``repeat`` times, taking turns: the least CPU
    time of each, with its event count."""
    best = [(float("inf"), 0)] * len(runs)
    for _ in range(repeat):
        for index, (measure, make, audio) in enumerate(runs):
            best[index] = min(best[index], measure(make, audio))
    return best


def rate(audio: np.ndarray, cpu_s: float) -> float:
    return audio.size / SAMPLE_RATE_HZ / cpu_s


def row(name: str, channels: int, audio: np.ndarray, cpu_s: float, events: int) -> float:
    figure = rate(audio, cpu_s)
    print(f"  {name:<34} {channels:>5} ch  {figure:>12,.0f} ch-s/CPU-s  ({events} events)")
    return figure


def compare(title: str, channels: int, audio: np.ndarray, mine, peer, repeat: int) -> None:
    """Print our receiver's figure (``mine``: name, make), SpanDSP's (``peer``, or None) and their ratio."""
    runs = [(ours, mine[1], audio)] + ([(theirs, peer[1], audio)] if peer else [])
    results = best_of(repeat, *runs)
    figure = row(mine[0], channels, audio, *results[0])
    if peer:
        peer_figure = row(peer[0], channels, audio, *results[1])
        print(f"  ratio hotline / SpanDSP{title}: {figure / peer_figure:.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="audio per channel (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each receiver, the best counts (default 3)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    have_peer = spandsp.available()
    if not have_peer:
        print("SpanDSP (libspandsp2) not found: printing our figures only")

    speech = real_speech()
    if speech is None:
        print("(real speech not installed: asterisk-core-sounds-en-wav; speaking callers get line noise)")
    for title, every_s, with_speech in DTMF_SCENARIOS:
        voice = speech if with_speech else None
        print(f"DTMF receiver: {title}")
        pool = [dtmf_signal(args.seconds, rng, every_s, voice) for _ in range(DISTINCT_SIGNALS)]
        for channels in DTMF_CHANNEL_COUNTS:
            audio = pool_to_channels(pool, channels, rng)
            compare(f" at {channels} channels", channels, audio,
                    ("hotline DtmfReceiver", lambda: DtmfReceiver(channels)),
                    ("SpanDSP dtmf_rx", spandsp.DtmfRx) if have_peer else None, args.repeat)

    print("Call-progress detector (China plan)")
    audio = pool_to_channels([progress_signal(args.seconds, rng, i) for i in range(DISTINCT_SIGNALS)],
                             RECEIVER_CHANNELS, rng)
    compare("", RECEIVER_CHANNELS, audio,
            ("hotline ProgressDetector", lambda: ProgressDetector(RECEIVER_CHANNELS, plan="china")),
            ("SpanDSP super_tone_rx", lambda: spandsp.SuperToneRx("china")) if have_peer else None,
            args.repeat)

    print("FSK caller-ID receiver (Bell 202)")
    audio = pool_to_channels([callerid_signal(args.seconds, rng) for _ in range(DISTINCT_SIGNALS)],
                             RECEIVER_CHANNELS, rng)
    compare("", RECEIVER_CHANNELS, audio,
            ("hotline FskCallerIdReceiver",
             lambda: callerid.FskCallerIdReceiver(RECEIVER_CHANNELS, standard="bell202")),
            ("SpanDSP adsi_rx", lambda: spandsp.AdsiRx(spandsp.ADSI_STANDARD_CLASS)) if have_peer else None,
            args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
