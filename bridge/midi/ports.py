"""MIDI ports through python-rtmidi: API choice, port lists, input and output ports.

This is the layer mido's rtmidi backend (``mido.Backend('mido.backends.rtmidi/UNIX_JACK')``)
wraps, with the same API names; it is used directly for two reasons:

- input needs the raw bytes of each driver event (mido's rtmidi input parses exactly one message
  per event and drops anything else: running status, two messages in one packet); the bytes go
  to :class:`bridge.midi.stream.MidiStreamParser` and come out as mido messages;
- rtmidi calls the input callback on the driver's thread (for JACK, inside the process cycle), so
  the callback here only stamps the time and hands the bytes on; nothing else runs there.

Port names are the API's: JACK ``client:port`` (``musicgen-bridge:MusicGen Bridge``),
ALSA ``client:port client_id:port_id``, CoreMIDI and WinMM the device name.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Callable

import mido

from .config import APIS, require_rtmidi

try:
    import rtmidi
except ImportError:  # the [midi] extra is not installed: MidiConfig.from_dict refuses MIDI first
    rtmidi = None

# our API names -> rtmidi constant suffixes (the names mido's backend uses: 'rtmidi/UNIX_JACK')
RTMIDI_API_NAMES = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coremidi": "MACOSX_CORE",
                    "winmm": "WINDOWS_MM"}
_NOT_REAL_NAMES = ("API_RTMIDI_DUMMY", "API_WEB_MIDI")

BytesSink = Callable[[str, list, float], None]   # (port key, raw bytes, arrival time_s)


def api_candidates(api: str) -> list[int]:
    """rtmidi API ids to try, in order. ``auto``: every compiled API, the platform's default first
    (rtmidi's own "unspecified" stops at the first API that fails, e.g. ALSA without a sequencer,
    instead of trying JACK next)."""
    if api not in APIS:
        raise ValueError(f"unknown MIDI API {api!r}")
    require_rtmidi()
    not_real = {getattr(rtmidi, name, -1) for name in _NOT_REAL_NAMES}
    compiled = [a for a in rtmidi.get_compiled_api() if a not in not_real]
    if api == "auto":
        return compiled
    api_id = getattr(rtmidi, "API_" + RTMIDI_API_NAMES[api])
    if api_id not in compiled:
        names = ", ".join(api_name(a) for a in compiled) or "none"
        raise OSError(f"MIDI API {api} is not compiled into python-rtmidi (compiled: {names})")
    return [api_id]


def api_name(api_id: int) -> str:
    """Our name for an rtmidi API id (``jack``, ``alsa``, ...)."""
    for ours, theirs in RTMIDI_API_NAMES.items():
        if getattr(rtmidi, "API_" + theirs) == api_id:
            return ours
    return str(api_id)


#: APIs that cannot create virtual ports (Windows' WinMM): the user makes a port with loopMIDI
#: and the daemon connects to it.
NO_VIRTUAL_PORTS = ("winmm",)


def virtual_port_problem(api_names: list[str], *, virtual_in: bool, virtual_out: bool) -> str | None:
    """One line explaining why the MIDI set-up cannot work with these APIs, or None when it can.

    ``api_names``: the APIs the side would try (ours: ``alsa``, ``jack``, ``coremidi``, ``winmm``);
    ``virtual_in``/``virtual_out``: whether the config asks for virtual ports (no ``connect`` /
    an ``out`` name)."""
    if not api_names or any(name not in NO_VIRTUAL_PORTS for name in api_names):
        return None
    wants = [w for w, on in (("--midi-in (a virtual input)", virtual_in), ("--midi-out (a virtual output)", virtual_out))
             if on]
    if not wants:
        return None
    return (f"Windows MIDI (WinMM) cannot create virtual ports, which {' and '.join(wants)} need: create a port "
            "in loopMIDI (e.g. 'MusicGen Bridge') and start with --midi-connect \"MusicGen Bridge\" (feedback: "
            "--midi-out-connect NAME); see docs/midi.md")


def check_virtual_ports(cfg) -> None:
    """Raise :class:`OSError` with :func:`virtual_port_problem`'s line for a config this machine's
    MIDI APIs cannot serve (checked once at start, instead of retrying forever)."""
    problem = virtual_port_problem([api_name(a) for a in api_candidates(cfg.api)],
                                   virtual_in=cfg.connect is None, virtual_out=cfg.out_name is not None)
    if problem:
        raise OSError(problem)


OUT_CLIENT_SUFFIX = "-out"      # outputs are a client of their own: "musicgen-bridge-out:Feedback"
PROBE_CLIENT_SUFFIX = "-probe"  # the port lister's clients (no ports)


def own_port_regex(client_name: str) -> re.Pattern:
    """Matches port names of this program's clients (JACK renames a second client ``name-01``)."""
    return re.compile(rf"^{re.escape(client_name)}({OUT_CLIENT_SUFFIX}|{PROBE_CLIENT_SUFFIX})?"
                      rf"(-\d+)?:")


class PortLister:
    """An rtmidi input and output kept only to list ports (they open no port of their own)."""

    def __init__(self, api_id: int, client_name: str) -> None:
        self.api_id = api_id
        name = client_name + PROBE_CLIENT_SUFFIX
        self._in = rtmidi.MidiIn(rtapi=api_id, name=name)
        try:
            self._out = rtmidi.MidiOut(rtapi=api_id, name=name)
        except Exception:
            self._in.delete()
            raise

    def sources(self) -> list[str]:
        """Ports we can read from (other programs' outputs, controllers' MIDI out)."""
        return list(self._in.get_ports())

    def destinations(self) -> list[str]:
        """Ports we can send to (also our own virtual input shows up here)."""
        return list(self._out.get_ports())

    def close(self) -> None:
        for rt in (self._in, self._out):
            try:
                rt.delete()
            except Exception:
                pass


class InputPort:
    """One rtmidi input: a virtual port others connect to, or a port connected to ``source``."""

    def __init__(self, api_id: int, client_name: str, port_name: str, sink: BytesSink,
                 source: str | None = None) -> None:
        self.api_id = api_id
        self.client_name = client_name
        self.port_name = port_name
        self.source = source
        self.key = source if source is not None else f"virtual:{port_name}"
        self._sink = sink
        self._rt: rtmidi.MidiIn | None = None

    @property
    def is_open(self) -> bool:
        return self._rt is not None

    def open(self) -> None:
        """Open (raises OSError with the driver's message on failure)."""
        rt = None
        try:
            rt = rtmidi.MidiIn(rtapi=self.api_id, name=self.client_name)
            # receive sysex and clock; active sensing only says "still here" every 300 ms
            rt.ignore_types(sysex=False, timing=False, active_sense=True)
            rt.set_callback(self._callback)
            _open_port(rt, self.port_name, self.source, "source")
        except Exception as exc:
            raise _open_failed(rt, exc)
        self._rt = rt

    def close(self) -> None:
        rt, self._rt = self._rt, None
        if rt is not None:
            _delete(rt)

    def _callback(self, event, data=None) -> None:
        # runs on the driver's thread: stamp and hand on, nothing more
        try:
            self._sink(self.key, event[0], time.monotonic())
        except Exception:
            pass


class OutputPort:
    """One rtmidi output: a virtual port others connect to, or a port connected to ``dest``."""

    def __init__(self, api_id: int, client_name: str, port_name: str,
                 dest: str | None = None) -> None:
        self.api_id = api_id
        self.client_name = client_name
        self.port_name = port_name
        self.dest = dest
        self.key = dest if dest is not None else f"virtual:{port_name}"
        self._rt: rtmidi.MidiOut | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._rt is not None

    def open(self) -> None:
        rt = None
        try:
            rt = rtmidi.MidiOut(rtapi=self.api_id, name=self.client_name + OUT_CLIENT_SUFFIX)
            _open_port(rt, self.port_name, self.dest, "destination")
        except Exception as exc:
            raise _open_failed(rt, exc)
        self._rt = rt

    def send(self, msg: mido.Message) -> None:
        with self._lock:
            if self._rt is None:
                raise OSError("port is closed")
            self._rt.send_message(msg.bytes())

    def close(self) -> None:
        with self._lock:
            rt, self._rt = self._rt, None
        if rt is not None:
            _delete(rt)


def _open_port(rt, port_name: str, target: str | None, what: str) -> None:
    """Open ``rt`` as a virtual port named ``port_name``, or connected to the port ``target``."""
    if target is None:
        rt.open_virtual_port(port_name)
        return
    names = rt.get_ports()
    if target not in names:
        raise OSError(f"no MIDI {what} {target!r}")
    rt.open_port(names.index(target), port_name)


def _open_failed(rt, exc: Exception) -> OSError:
    """Free a half-opened ``rt`` and turn the failure into an OSError with the driver's message."""
    if rt is not None:
        _delete(rt)
    if isinstance(exc, OSError):
        return exc
    err = OSError(f"{type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


#: How long a JACK client's process callback may still be inside its last cycle after the port
#: is closed: a few JACK periods (5 ms at 256 frames and 48 kHz, 46 ms at 2048 and 44.1 kHz),
#: with room for a late cycle on a loaded machine (jackd without real-time priority).
JACK_SETTLE_S = 0.1


def _delete(rt) -> None:
    """Close and free an rtmidi object, never raising.

    The port is closed first, and on JACK the object is freed only after :data:`JACK_SETTLE_S`.
    rtmidi's JACK backend runs a process callback on JACK's real-time thread for as long as the
    client is active. It stops touching the port's buffers (and calling the input callback) once
    the port is closed and the cycle in flight has ended. Its destructor frees those buffers
    before it closes the client, and python-rtmidi's ``cancel_callback`` releases the Python
    callback while a cycle may still be calling it. Freed at once, a cycle still running could
    read freed memory: a segfault, seen once in the test suite while ports were torn down."""
    try:
        jack = rtmidi is not None and rt.get_current_api() == rtmidi.API_UNIX_JACK
    except Exception:
        jack = False
    _call(rt, "close_port")
    if jack:
        time.sleep(JACK_SETTLE_S)
    _call(rt, "cancel_callback")
    _call(rt, "delete")


def _call(rt, method: str) -> None:
    """``rt.method()`` where rtmidi has it, any failure ignored (freeing must not raise)."""
    fn = getattr(rt, method, None)
    if fn is None:
        return
    try:
        fn()
    except Exception:
        pass
