"""The daemon's MIDI side: ports, triggers, melody capture, clock and feedback, in two threads.

- ``midi-ports`` opens the ports and checks the port list every ``poll_s`` seconds: a source that
  went away (controller unplugged) is dropped and connected again when it comes back; a port that
  could not be opened (no JACK server yet, ALSA without a sequencer) is retried, with a growing
  pause while the MIDI API itself is unavailable, so that the driver's error lines do not flood
  the log.
- ``midi-events`` parses the bytes the ports deliver and turns them into clock updates, captured
  notes and trigger actions; ``on_action`` is called on this thread.

Nothing here raises into the daemon after construction: every failure is logged and retried.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import mido

from .capture import Note, PhraseCapture
from .clock import ClockFollower
from .config import MidiConfig, Trigger, pattern_matches
from .ports import InputPort, OutputPort, PortLister, api_candidates, api_name, own_port_regex
from .stream import MidiStreamParser
from .triggers import TriggerMatcher

DEFAULT_BPM = 120.0            # tempo for captured phrases when no MIDI clock is running
API_RETRY_MAX_S = 10.0         # longest pause between tries while the MIDI API is unavailable
_STOP = object()


@dataclass
class MidiAction:
    """What a trigger asks the daemon to do; the daemon turns it into a job.

    ``notes`` (only for ``melody``): the captured phrase, ``(pitch, start_beats, length_beats,
    velocity)``, first note at beat 0, quantized. ``bpm``: the MIDI clock tempo when one is
    running; for ``melody`` always the tempo the phrase was converted to beats with (clock, else
    120), so ``notes`` at ``bpm`` reproduce the played timing. ``source``: the trigger, e.g.
    ``note 60 ch 1``.
    """

    kind: str                       # "generate" | "continue_last" | "melody" | "cancel"
    preset: str | None = None
    notes: list[Note] = field(default_factory=list)
    bpm: float | None = None
    source: str = ""


class MidiSide:
    """MIDI in (triggers, capture, clock) and out (feedback) for the daemon.

    ``on_action(action)`` is called on the MIDI thread; an exception in it is logged, never
    raised. Use :meth:`start` / :meth:`stop`; read :attr:`clock_bpm` from any thread.
    """

    def __init__(self, cfg: MidiConfig, on_action: Callable[[MidiAction], None],
                 log: logging.Logger | None = None) -> None:
        self.cfg = cfg
        self.log = log or logging.getLogger("bridge.midi")
        self._on_action = on_action
        self.clock = ClockFollower(timeout_s=cfg.clock_timeout_s)
        self.capture = PhraseCapture(rolling_beats=cfg.capture_beats)
        self.matcher = TriggerMatcher(cfg.triggers)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._parsers: dict[str, MidiStreamParser] = {}
        self._handle_lock = threading.RLock()
        self._ports_lock = threading.Lock()
        self._inputs: dict[str, InputPort] = {}
        self._outputs: dict[str, OutputPort] = {}
        self._own = own_port_regex(cfg.client_name)
        self._lister: PortLister | None = None
        self._api_id: int | None = None
        self._api_retry_at = 0.0
        self._api_pause_s = cfg.poll_s
        self._notices: dict[str, str] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- the daemon's interface ----------------------------------------------------------------

    def start(self) -> None:
        """Open the ports and start the threads. Never raises for missing ports or drivers."""
        if self._threads:
            return
        if not self.cfg.enabled:
            self.log.info("MIDI disabled in the config")
            return
        self._stop.clear()
        self._threads = [threading.Thread(target=self._events_loop, name="midi-events",
                                          daemon=True),
                         threading.Thread(target=self._ports_loop, name="midi-ports",
                                          daemon=True)]
        self._threads[0].start()
        self._refresh_safely()       # first try now, so ports exist when start() returns
        self._threads[1].start()

    def stop(self) -> None:
        """Close the ports and end the threads."""
        self._stop.set()
        self._queue.put(_STOP)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5.0)
        self._threads = []
        with self._ports_lock:
            ports = list(self._inputs.values()) + list(self._outputs.values())
            self._inputs.clear()
            self._outputs.clear()
        for p in ports:
            p.close()
        if self._lister is not None:
            self._lister.close()
            self._lister = None
        self._api_id = None

    @property
    def clock_bpm(self) -> float | None:
        """Tempo from MIDI clock, or None when no clock arrived in the last ``clock_timeout_s``."""
        return self.clock.bpm(time.monotonic())

    def feedback(self, event: str, job_id: str | None = None) -> None:
        """Send the message configured for ``event`` (started, done, error, cancelled) on the
        feedback port(s); a no-op when none is configured or open. Never raises."""
        try:
            spec = self.cfg.feedback.get(event)
            if spec is None:
                return
            with self._ports_lock:
                outs = [p for p in self._outputs.values() if p.is_open]
            if not outs:
                self.log.debug("MIDI feedback %s (%s): no output port open", event, job_id)
                return
            msg = spec.message()
            for port in outs:
                try:
                    port.send(msg)
                except Exception as exc:
                    self.log.warning("MIDI feedback to %s failed: %s", port.key, exc)
            self.log.debug("MIDI feedback %s (%s): %s", event, job_id, msg)
        except Exception:
            self.log.exception("MIDI feedback %s failed", event)

    # --- extras (status, tests) ----------------------------------------------------------------

    @property
    def api(self) -> str | None:
        """The MIDI API in use (``jack``, ``alsa``, ...), None until one could be opened."""
        return None if self._api_id is None else api_name(self._api_id)

    @property
    def clock_running(self) -> bool:
        return self.clock.running

    @property
    def capture_armed(self) -> bool:
        return self.capture.armed

    @property
    def inputs(self) -> list[str]:
        """Open inputs: ``virtual:<name>`` or the names of the connected sources."""
        with self._ports_lock:
            return sorted(k for k, p in self._inputs.items() if p.is_open)

    @property
    def outputs(self) -> list[str]:
        with self._ports_lock:
            return sorted(k for k, p in self._outputs.items() if p.is_open)

    def inject(self, msg: mido.Message, t_s: float | None = None) -> None:
        """Handle ``msg`` as if it arrived on an input at ``t_s`` (monotonic seconds; default
        now), on the caller's thread. For tests and for feeding MIDI from elsewhere."""
        self._handle_safely(msg, time.monotonic() if t_s is None else t_s)

    # --- events --------------------------------------------------------------------------------

    def _on_bytes(self, key: str, data: list, t_s: float) -> None:
        self._queue.put((key, data, t_s))     # called on the driver's thread

    def _events_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            key, data, t_s = item
            if data is None:                  # port closed: forget its running status
                self._parsers.pop(key, None)
                continue
            parser = self._parsers.setdefault(key, MidiStreamParser())
            try:
                messages = parser.feed(data)
            except Exception:
                self.log.exception("MIDI parse error on %s", key)
                parser.reset()
                continue
            for msg in messages:
                self._handle_safely(msg, t_s)

    def _handle_safely(self, msg: mido.Message, t_s: float) -> None:
        try:
            with self._handle_lock:
                self._handle(msg, t_s)
        except Exception:
            self.log.exception("MIDI message %s could not be handled", msg)

    def _handle(self, msg: mido.Message, t_s: float) -> None:
        kind = msg.type
        if kind == "clock":
            self.clock.tick(t_s)
            return
        if kind == "start":
            self.clock.start(t_s)
            self.log.debug("MIDI clock start")
            return
        if kind == "continue":
            self.clock.continue_(t_s)
            return
        if kind == "stop":
            self.clock.stop(t_s)
            self.log.debug("MIDI clock stop")
            return
        if kind not in ("note_on", "note_off", "control_change", "program_change"):
            return
        fired = self.matcher.match(msg)
        if kind in ("note_on", "note_off") and self._records(msg):
            if kind == "note_on":
                self.capture.note_on(t_s, msg.channel, msg.note, msg.velocity)
            else:
                self.capture.note_off(t_s, msg.channel, msg.note)
        elif kind == "control_change" and msg.control in (120, 123) and self._records(msg):
            self.capture.all_notes_off(t_s)   # all sound off / all notes off
        for trigger in fired:
            self._fire(trigger, t_s)

    def _records(self, msg: mido.Message) -> bool:
        if self.cfg.capture_channel is not None and msg.channel != self.cfg.capture_channel:
            return False
        if msg.type == "control_change":
            return True
        return not self.matcher.is_trigger_note(msg.channel, msg.note)

    def _fire(self, trigger: Trigger, t_s: float) -> None:
        if trigger.action == "arm_capture":
            if self.capture.toggle_arm(t_s):
                self.log.info("MIDI capture armed (%s)", trigger.describe())
            else:
                self.log.info("MIDI capture ended (%s)", trigger.describe())
            return
        clock_bpm = self.clock.bpm(t_s)
        if trigger.action == "melody":
            bpm = clock_bpm or DEFAULT_BPM
            notes = self.capture.phrase(t_s, bpm, self.cfg.quantize)
            if not notes:
                self.log.warning("MIDI melody trigger (%s): no notes captured, nothing to do",
                                 trigger.describe())
                return
            action = MidiAction("melody", trigger.preset, notes, bpm, trigger.describe())
        else:
            action = MidiAction(trigger.action, trigger.preset, [], clock_bpm, trigger.describe())
        self.log.info("MIDI %s -> %s%s%s", action.source, action.kind,
                      f" preset={action.preset}" if action.preset else "",
                      f" ({len(action.notes)} notes at {action.bpm:g} bpm)"
                      if action.notes else "")
        try:
            self._on_action(action)
        except Exception:
            self.log.exception("MIDI action %s (%s) failed in the daemon", action.kind,
                               action.source)

    # --- ports ---------------------------------------------------------------------------------

    def _ports_loop(self) -> None:
        while not self._stop.wait(self.cfg.poll_s):
            self._refresh_safely()

    def _refresh_safely(self) -> None:
        try:
            self._refresh()
        except Exception:
            self.log.exception("MIDI port check failed")

    def _notice(self, topic: str, message: str | None, level: int = logging.WARNING) -> None:
        """Log ``message`` once for ``topic`` until it changes; None marks the topic healthy."""
        if message is None:
            self._notices.pop(topic, None)
            return
        if self._notices.get(topic) != message:
            self._notices[topic] = message
            self.log.log(level, "%s", message)

    def _refresh(self) -> None:
        if self._stop.is_set():
            return
        if self._lister is None and not self._open_api():
            return
        assert self._lister is not None and self._api_id is not None
        try:
            sources = self._lister.sources()
            destinations = self._lister.destinations()
        except Exception as exc:
            self._notice("api", f"MIDI port list failed ({exc}); re-opening the MIDI API")
            self._drop_api()
            return
        cfg = self.cfg
        if cfg.connect is None:
            self._ensure_virtual(self._inputs, InputPort(self._api_id, cfg.client_name,
                                                         cfg.in_name, self._on_bytes), "input")
        else:
            self._sync(self._inputs, sources, cfg.connect, "input")
        if cfg.out_name is not None:
            self._ensure_virtual(self._outputs, OutputPort(self._api_id, cfg.client_name,
                                                           cfg.out_name), "output")
        if cfg.out_connect is not None:
            self._sync(self._outputs, destinations, cfg.out_connect, "output")

    def _open_api(self) -> bool:
        now = time.monotonic()
        if now < self._api_retry_at:
            return False
        errors = []
        try:
            candidates = api_candidates(self.cfg.api)
        except OSError as exc:
            candidates, errors = [], [str(exc)]
        for api_id in candidates:
            try:
                self._lister = PortLister(api_id, self.cfg.client_name)
                self._api_id = api_id
                break
            except Exception as exc:
                errors.append(f"{api_name(api_id)}: {exc}")
        if self._lister is None:
            self._api_retry_at = now + self._api_pause_s
            self._notice("api", f"MIDI unavailable ({'; '.join(errors) or 'no API'}); "
                                f"retrying every {API_RETRY_MAX_S:g} s or sooner")
            self._api_pause_s = min(self._api_pause_s * 2, API_RETRY_MAX_S)
            return False
        self._api_pause_s = self.cfg.poll_s
        self._notice("api", None)
        self.log.info("MIDI API: %s", api_name(self._api_id))
        return True

    def _drop_api(self) -> None:
        with self._ports_lock:
            ports = list(self._inputs.values()) + list(self._outputs.values())
            self._inputs.clear()
            self._outputs.clear()
        for port in ports:
            port.close()
            if isinstance(port, InputPort):
                self._queue.put((port.key, None, 0.0))
        if self._lister is not None:
            self._lister.close()
        self._lister, self._api_id = None, None

    def _is_own(self, name: str) -> bool:
        return bool(self._own.match(name)) or name in (self.cfg.in_name, self.cfg.out_name)

    def _ensure_virtual(self, ports: dict, port, what: str) -> None:
        if port.key in ports:
            return
        try:
            port.open()
        except OSError as exc:
            self._notice(f"{what}:{port.key}",
                         f"MIDI {what}: cannot open virtual port {port.port_name!r} ({exc}); "
                         f"retrying")
            return
        with self._ports_lock:
            ports[port.key] = port
        self._notice(f"{what}:{port.key}", None)
        self.log.info("MIDI %s: virtual port %r (%s)", what, port.port_name, self.api)

    def _sync(self, ports: dict, names: list[str], pattern: str, what: str) -> None:
        """Connect to every port in ``names`` that matches ``pattern``; drop vanished ones."""
        wanted = [n for n in names if pattern_matches(pattern, n) and not self._is_own(n)]
        for key, port in list(ports.items()):
            if port.key.startswith("virtual:"):
                continue                          # the `in`/`out` virtual port: not ours here
            if key not in wanted:
                with self._ports_lock:
                    del ports[key]
                port.close()
                if isinstance(port, InputPort):
                    self._queue.put((key, None, 0.0))
                self.log.warning("MIDI %s %r went away; will reconnect when it is back", what, key)
        for name in wanted:
            if name in ports:
                continue
            if what == "input":
                port = InputPort(self._api_id, self.cfg.client_name, self.cfg.in_name,
                                 self._on_bytes, source=name)
            else:
                port = OutputPort(self._api_id, self.cfg.client_name,
                                  self.cfg.out_name or f"{self.cfg.in_name} feedback", dest=name)
            try:
                port.open()
            except OSError as exc:
                self._notice(f"{what}:{name}", f"MIDI {what}: cannot connect to {name!r} ({exc})")
                continue
            with self._ports_lock:
                ports[name] = port
            self._notice(f"{what}:{name}", None)
            self.log.info("MIDI %s: connected to %r", what, name)
        if any(not key.startswith("virtual:") for key in ports):
            self._notice(f"{what}:waiting", None)
        else:
            self._notice(f"{what}:waiting",
                         f"MIDI {what}: no port matches {pattern!r} yet "
                         f"(ports: {', '.join(n for n in names if not self._is_own(n)) or 'none'})")
