"""Jam: a request that keeps going, one tempo-exact segment after another (docs/protocol.md, "Jam").

A jam is a chain of ordinary jobs. Segment 0 is a text generation (or a continuation of a seed
clip); segment k+1 is a continuation whose audio prompt is the last (up to 10 s) of segment k's
file, so every segment is journaled, written, sidecar'd and answered with ``done`` like any clip.
This module holds the jam's state and the pure planning (segment bounds in samples at the tempo,
the continuation window, lead, speed); :class:`JamManager` reacts to each segment's end. The
audio of a join is in :mod:`bridge.jam_join`. The daemon wiring is a few lines.

Timeline: segment k covers samples ``[round(k*L*sr), round((k+1)*L*sr))`` of the jam, with ``L``
the segment length in seconds (``bars * beats_per_bar * 60 / bpm``), so lengths may differ by one
sample but the joins never drift from the tempo.

Joins and loudness: see :mod:`bridge.jam_join`.

Not durable on purpose: a jam lives in the daemon's memory. After ``kill -9`` the journal re-runs
the segment that was running (same seed and file names, delivered once) and the jam then ends
with ``/musicgen/jam_ended <id> restarted``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .errors import BAD_REQUEST, DUPLICATE_ID, NOT_FOUND, RequestError

log = logging.getLogger("bridge.jam")

#: At most this much of the previous segment's end is the next segment's audio prompt.
CONTEXT_S = 10.0
#: A segment id is ``<jam id>.s<index>``; jam ids leave room for the suffix in a 64-character id.
MAX_JAM_ID_CHARS = 56
MAX_SEGMENTS = 100000
#: Request keys a jam refuses (one clip per segment, whole segments, sample-exact files).
REFUSED_KEYS = {"variations": "a jam makes one clip per segment",
                "loop": "jam segments follow each other; they are not loops",
                "keep_prompt": "a jam segment holds only its own audio",
                "stems": "a jam does not split stems",
                "duration": "a jam's segment length is bars at bpm",
                "preview": "jam segments send no previews"}
LOSSLESS = ("wav", "wav16", "wav24", "wavf", "flac")
#: Keys only a jam takes (bridge/protocol_keys.json, "jam").
JAM_KEYS = ("segments", "ahead")
#: Segments made ahead of playback at most (``ahead``): a faster-than-real-time jam waits for
#: playback instead of filling the disk.
DEFAULT_AHEAD = 2
MAX_AHEAD = 64

Address = tuple[str, int]


# --- planning: pure functions ---------------------------------------------------------------

def segment_length_s(bpm: float, beats_per_bar: float, bars: float) -> float:
    return bars * beats_per_bar * 60.0 / bpm


def segment_bounds(k: int, length_s: float, sr: int) -> tuple[int, int]:
    """Segment ``k``'s first sample and end (exclusive) on the jam's timeline."""
    return int(round(k * length_s * sr)), int(round((k + 1) * length_s * sr))


def segment_samples(k: int, length_s: float, sr: int) -> int:
    start, end = segment_bounds(k, length_s, sr)
    return end - start


def continuation_window(prev_samples: int, sr: int, context_s: float = CONTEXT_S) -> tuple[float, int]:
    """Where the prompt starts in the previous segment (seconds, and samples it holds): its last
    ``context_s`` (all of it when shorter). The prompt always ends at the previous file's end."""
    used = min(prev_samples, int(round(context_s * sr)))
    return (prev_samples - used) / sr, used


def midi_jam_step(preset: str | None, running_preset: str | None, stop: bool = False) -> str:
    """What a MIDI jam trigger does (docs/midi.md, "Jam"): ``start`` (no MIDI jam runs),
    ``stop`` (its own preset again, or a ``jam_stop`` trigger), ``prompt`` (another preset: the
    running jam takes that preset's prompt from the next segment on), ``none``."""
    if running_preset is None:
        return "none" if stop else "start"
    if stop or preset == running_preset:
        return "stop"
    return "prompt"


def wait_before_next_s(made_s: float, played_s: float, ahead: int, length_s: float) -> float:
    """How long to wait before making the next segment so that at most ``ahead`` segments are
    ready beyond what is playing (0: make it now)."""
    return max(0.0, (made_s - played_s) - ahead * length_s)


def lead_bars(made_s: float, played_s: float, bar_s: float) -> float:
    """How far generation is ahead of playback, in bars (negative: playback ran out)."""
    return (made_s - played_s) / bar_s


def is_slow(speed_x: float, lead: float) -> bool:
    """Whether to warn (``jam_slow``): a segment made slower than it plays, or playback has
    caught up with generation."""
    return speed_x < 1.0 or lead < 0.0


def speed(audio_s: float, wall_s: float) -> float:
    """Seconds of music made per second of wall time (1 = exactly real time)."""
    return audio_s / wall_s if wall_s > 0 else math.inf


# --- a jam and what happens on each segment's end -------------------------------------------

@dataclass
class Jam:
    id: str
    params: dict               # the request keys every segment starts from (no prompt, no jam keys)
    prompt: str
    bpm: float
    beats_per_bar: float
    bars: float
    segments: int              # 0: until stopped
    reply: Address | None
    source: str
    seed_clip: str | None = None
    next_index: int = 0        # the index of the next segment to submit
    running_id: str | None = None
    last_path: str | None = None
    last_samples: int = 0
    made_s: float = 0.0        # music delivered so far
    play_start: float | None = None  # monotonic time playback began (first done, or `launched`)
    stopping: str | None = None      # None, "now" or "finish"
    done_count: int = 0              # segments delivered
    ahead: int = DEFAULT_AHEAD       # segments made ahead of playback at most
    timer: threading.Timer | None = None  # waiting to make the next segment

    @property
    def length_s(self) -> float:
        return segment_length_s(self.bpm, self.beats_per_bar, self.bars)

    @property
    def bar_s(self) -> float:
        return self.beats_per_bar * 60.0 / self.bpm

    def lead(self, now: float) -> float:
        played = 0.0 if self.play_start is None else max(0.0, now - self.play_start)
        return lead_bars(self.made_s, played, self.bar_s)


def parse_start(params: dict, jam_id: str) -> tuple[dict, int, int]:
    """Split a ``start``'s keys into segment keys, ``segments`` and ``ahead``; refuses what a jam
    cannot do."""
    if len(jam_id) > MAX_JAM_ID_CHARS:
        raise RequestError(BAD_REQUEST, f"a jam id has at most {MAX_JAM_ID_CHARS} characters")
    params = dict(params)
    for key, why in REFUSED_KEYS.items():
        if key in params:
            raise RequestError(BAD_REQUEST, f"{key} is not a jam key: {why}")
    segments = _whole(params.pop("segments", 0), "segments", 0, MAX_SEGMENTS, " (0: until stopped)")
    ahead = _whole(params.pop("ahead", DEFAULT_AHEAD), "ahead", 1, MAX_AHEAD, " (segments ready before playback)")
    check_format(params.get("format", "wav"))
    return params, segments, ahead


def check_format(fmt) -> None:
    if fmt not in LOSSLESS:
        raise RequestError(BAD_REQUEST, f"a jam writes lossless files ({', '.join(LOSSLESS)}) so joins stay "
                                        f"sample-exact; got format {fmt!r}")


def _whole(v, name: str, lo: int, hi: int, note: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise RequestError(BAD_REQUEST, f"{name} must be a whole number {lo}-{hi}{note}")
    return v


class JamManager:
    """The jams of one daemon. ``submit(params, action=, req_id=, source=, reply=, extra=)`` and
    ``cancel(job_id)`` are the daemon's; ``send(target, address, args)`` sends one OSC reply;
    ``sr()`` is the engine's sample rate; ``clock()`` is monotonic time (tests pass their own)."""

    def __init__(self, *, submit, cancel, send, sr: Callable[[], int], presets: dict | None = None,
                 defaults: dict | None = None, clock: Callable[[], float] = time.monotonic,
                 announce: list | None = None):
        self.submit = submit
        self.cancel = cancel
        self.send = send
        self.sr = sr
        self.presets = presets or {}
        self.defaults = defaults or {}
        self._midi_count = 0
        self.clock = clock
        self.jams: dict[str, Jam] = {}
        self.lock = threading.RLock()
        self.announce = announce if announce is not None else []  # where MIDI jams are answered
        self.midi_jam: tuple[str, str] | None = None  # (jam id, preset) of the jam MIDI started

    def _reply(self, jam: Jam, address: str, args: list) -> None:
        """A jam's replies: to its client, or for a MIDI jam to the daemon's announce targets."""
        for target in ([jam.reply] if jam.reply is not None else self.announce if jam.source == "midi" else []):
            self.send(target, address, args)

    # --- MIDI ----------------------------------------------------------------------------------

    def on_midi(self, action, *, clock_bpm: float | None) -> None:
        """A ``jam`` / ``jam_stop`` trigger (bridge/midi/config.py): start, stop or re-prompt the
        one jam MIDI runs. Tempo: the preset's ``bpm``, else the MIDI clock's, else 120."""
        with self.lock:
            running = self.midi_jam if self.midi_jam and self.midi_jam[0] in self.jams else None
            step = midi_jam_step(action.preset, running[1] if running else None, stop=action.kind == "jam_stop")
            if step == "start":
                self._midi_count += 1
                jam_id = f"midi-jam-{int(time.time())}-{self._midi_count}"
                params = {"preset": action.preset}
                if "bpm" not in self.presets.get(action.preset, {}):
                    params["bpm"] = float(action.bpm or clock_bpm or 120.0)
                self.start(jam_id, params, reply=None, source="midi")
                self.midi_jam = (jam_id, action.preset)
            elif step == "stop":
                self.stop(running[0])
            elif step == "prompt":
                text = self.presets.get(action.preset, {}).get("prompt")
                if isinstance(text, str) and text.strip():
                    from_index = self.set_prompt(running[0], text)
                    self.midi_jam = (running[0], action.preset)
                    self._reply(self.jams[running[0]], "/musicgen/jam_prompt", [running[0], from_index])

    # --- commands (from /musicgen/jam) --------------------------------------------------------

    def start(self, jam_id: str, params: dict, *, reply: Address | None, source: str = "osc") -> Jam:
        from .request import merge_presets

        params, segments, ahead = parse_start(params, jam_id)
        merged = merge_presets(params, self.presets, self.defaults)  # bpm/bars may come from a preset
        check_format(merged.get("format", "wav"))
        for key in ("bpm", "bars"):
            if key not in merged:
                raise RequestError(BAD_REQUEST, f"a jam needs {key} (segments are whole bars at the tempo)")
        prompt = params.pop("prompt", None)
        seed_clip = params.pop("audio_path", None)
        if "start" in params or "end" in params:
            if seed_clip is None:
                raise RequestError(BAD_REQUEST, "start and end are for the seed clip (audio_path)")
        from .request import _KEYS  # the same converters as every request

        bpm = _KEYS["bpm"][1](merged["bpm"])
        bars = _KEYS["bars"][1](merged["bars"])
        bpb = _KEYS["beats_per_bar"][1](merged.get("beats_per_bar", 4.0))
        if segment_length_s(bpm, bpb, bars) < 0.1:
            raise RequestError(BAD_REQUEST, "a jam segment must be at least 0.1 s long")
        with self.lock:
            if jam_id in self.jams:
                raise RequestError(DUPLICATE_ID, f"a jam with id {jam_id!r} is already running")
            jam = Jam(id=jam_id, params=params, prompt=prompt if isinstance(prompt, str) else "", bpm=bpm,
                      beats_per_bar=bpb, bars=bars, segments=segments, reply=reply, source=source,
                      seed_clip=seed_clip, ahead=ahead)
            self._submit_next(jam)  # raises (nothing kept) when segment 0 is refused
            self.jams[jam_id] = jam
        log.info("jam %s started: %g bars of %g beats at %g bpm per segment (%.6f s)%s", jam_id, bars, bpb, bpm,
                 jam.length_s, f", {segments} segments" if segments else "")
        return jam

    def set_prompt(self, jam_id: str, prompt: str) -> int:
        """Change the prompt from the next segment submitted on; returns that segment's index."""
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt.strip()) > 2000:
            raise RequestError(BAD_REQUEST, "a jam prompt is 1-2000 characters")
        with self.lock:
            jam = self._get(jam_id)
            jam.prompt = prompt.strip()
            log.info("jam %s: prompt changed from segment %d on", jam_id, jam.next_index)
            return jam.next_index

    def stop(self, jam_id: str, finish: bool = False) -> None:
        """Stop: the running segment is cancelled (``finish``: made and delivered), then
        ``jam_ended <id> stopped`` is sent."""
        with self.lock:
            jam = self._get(jam_id)
            jam.stopping = "finish" if finish else "now"
            running = jam.running_id
        if running is None:
            if jam.timer is not None:
                jam.timer.cancel()
            self._end(jam, "stopped")
            return
        if not finish:
            try:
                self.cancel(running)  # its cancelled reply ends the jam (on_delivered)
            except RequestError:
                pass  # it ended meanwhile: on_delivered ends the jam since stopping is set

    def launched(self, jam_id: str) -> None:
        """The client started playing segment 0 now: the lead is counted from here."""
        with self.lock:
            self._get(jam_id).play_start = self.clock()

    def _get(self, jam_id: str) -> Jam:
        jam = self.jams.get(jam_id)
        if jam is None:
            raise RequestError(NOT_FOUND, f"no running jam {jam_id!r}")
        return jam

    # --- segments -----------------------------------------------------------------------------

    def _submit_next(self, jam: Jam) -> None:
        k = jam.next_index
        sr = self.sr()
        samples = segment_samples(k, jam.length_s, sr)
        params = dict(jam.params)
        # one whole clip per segment, whatever a preset or the defaults say
        params.update({"variations": 1, "loop": 0, "keep_prompt": 0, "stems": 0, "preview": 0})
        # bars that give exactly this segment's samples (a preset's bars must not win over them)
        params.update({"bars": samples / sr * jam.bpm / (jam.beats_per_bar * 60.0), "bpm": jam.bpm,
                       "beats_per_bar": jam.beats_per_bar,
                       "name": f"{jam.params.get('name') or jam.id} s{k:03d}"})
        if jam.prompt:
            params["prompt"] = jam.prompt
        seed = jam.params.get("seed")
        if isinstance(seed, (int, float)) and not isinstance(seed, bool):
            params["seed"] = (int(seed) + k) % 2**31
        extra = {"id": jam.id, "index": k, "bars": jam.bars, "start_sample": segment_bounds(k, jam.length_s, sr)[0],
                 "join": k > 0}
        action = "generate"
        if k > 0:
            start_s, _ = continuation_window(jam.last_samples, sr)
            params.update({"audio_path": jam.last_path, "start": start_s})
            params.pop("end", None)
            action = "continue"
        elif jam.seed_clip:
            params["audio_path"] = jam.seed_clip
            if "start" not in params:
                from .audio import AudioError, audio_length_s

                try:
                    end = float(params.get("end") or audio_length_s(jam.seed_clip))
                except AudioError:
                    end = 0.0  # admission answers bad_audio
                params["start"] = max(0.0, end - CONTEXT_S)
            action = "continue"
        seg_id = f"{jam.id}.s{k}"
        job, position = self.submit(params, action=action, req_id=seg_id, source=jam.source, reply=jam.reply,
                                    extra={"jam": extra})
        jam.running_id = job.id
        jam.next_index = k + 1
        self._reply(jam, "/musicgen/accepted", [job.id, position] + ([str(jam.params.get("preset") or "")]
                                                                      if jam.source == "midi" else []))

    def on_delivered(self, job) -> None:
        """Called once per delivered job; acts on jam segments only."""
        info = (job.request.extra or {}).get("jam")
        if not info:
            return
        from .jobs import CANCELLED, DONE

        with self.lock:
            jam = self.jams.get(info["id"])
            if jam is None or jam.running_id != job.id:
                # a segment re-run from the journal after a restart: its jam did not survive
                target = (job.reply_host, int(job.reply_port)) if job.reply_host and job.reply_port else None
                if target is not None:
                    made = int(info["index"]) + (1 if job.state == DONE else 0)
                    self.send(target, "/musicgen/jam_ended", [info["id"], "restarted", made])
                return
            jam.running_id = None
            if job.state != DONE:
                self._end(jam, "stopped" if jam.stopping else ("cancelled" if job.state == CANCELLED else "error"))
                return
            now = self.clock()
            length_s = float(job.result.get("duration_s") or 0.0)
            paths = job.result.get("paths") or []
            jam.last_path = paths[0] if paths else None
            jam.last_samples = int(round(length_s * self.sr()))
            jam.made_s += length_s
            jam.done_count += 1
            if jam.play_start is None:
                jam.play_start = now
            lead = jam.lead(now)
            wall = float((job.result.get("timings") or {}).get("total_s") or 0.0)
            spd = speed(length_s, wall)
            self._reply(jam, "/musicgen/jam_segment",
                        [jam.id, info["index"], job.id, jam.last_path or "", float(length_s), float(lead)])
            if is_slow(spd, lead):
                self._reply(jam, "/musicgen/jam_slow", [jam.id, float(spd), float(lead)])
            if spd < 1.0:
                log.warning("jam %s: segment %d made at %.2fx real time: slower than playback (lead %.2f bars)",
                            jam.id, info["index"], spd, lead)
            if jam.stopping:
                self._end(jam, "stopped")
            elif jam.segments and jam.next_index >= jam.segments:
                self._end(jam, "finished")
            elif jam.last_path is None:
                self._end(jam, "error")
            else:
                wait_s = wait_before_next_s(jam.made_s, now - jam.play_start, jam.ahead, jam.length_s)
                if wait_s > 0:  # far enough ahead: make the next one when playback has caught up
                    jam.timer = threading.Timer(wait_s, self._submit_later, args=(jam.id,))
                    jam.timer.daemon = True
                    jam.timer.start()
                else:
                    self._try_next(jam)

    def _submit_later(self, jam_id: str) -> None:
        with self.lock:
            jam = self.jams.get(jam_id)
            if jam is not None and not jam.stopping and jam.running_id is None:
                jam.timer = None
                self._try_next(jam)

    def _try_next(self, jam: Jam) -> None:
        try:
            self._submit_next(jam)
        except RequestError as exc:
            log.warning("jam %s: segment %d refused: %s (%s)", jam.id, jam.next_index, exc.message, exc.code)
            self._reply(jam, "/musicgen/error", [f"{jam.id}.s{jam.next_index}", exc.code, exc.message])
            self._end(jam, "error")

    def _end(self, jam: Jam, reason: str) -> None:
        with self.lock:
            if self.jams.pop(jam.id, None) is None:
                return
        log.info("jam %s ended (%s) after %d segment(s)", jam.id, reason, jam.done_count)
        self._reply(jam, "/musicgen/jam_ended", [jam.id, reason, jam.done_count])
