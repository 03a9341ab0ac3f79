"""The remote engine's pure parts: the worker API's body checks, arrays on the wire, the SSE reader,
engine URLs, and the worker job runner on the tiny model in-process (no HTTP)."""

from __future__ import annotations

import base64
import io
import json
import threading

import numpy as np
import pytest

from bridge.remote.client import Endpoint, parse_engine_urls
from bridge.remote.sse import iter_events
from bridge.remote.wire import JobSpec, WireError, build_body, decode_array, encode_array, parse_body


def test_arrays_cross_bit_exact():
    a = np.random.default_rng(1).standard_normal((2, 3, 17)).astype(np.float32)
    a[0, 0, 0] = np.float32(1e-45)  # a denormal survives too
    back = decode_array(json.loads(json.dumps(encode_array(a))), ndim=3, name="x")
    assert back.dtype == np.float32 and np.array_equal(back.view(np.uint32), a.view(np.uint32))


@pytest.mark.parametrize("obj, needle", [
    ({"shape": [2, 2], "data": base64.b64encode(b"\0" * 12).decode()}, "needs 16"),
    ({"shape": [2], "data": ""}, "2 non-negative integers"),
    ({"shape": [1, 1], "data": "***"}, "not base64"),
    ({"shape": [1, 1], "dtype": "float64", "data": ""}, "float32"),
    ({"shape": [1, 1], "data": base64.b64encode(np.float32(np.nan).tobytes()).decode()}, "not finite"),
])
def test_bad_arrays_are_named(obj, needle):
    with pytest.raises(WireError, match=needle):
        decode_array(obj, ndim=2, name="chroma")


def test_body_round_trip_with_prompt_audio_and_chroma():
    audio = (np.random.default_rng(2).standard_normal((2, 1000)) * 0.1).astype(np.float32)
    chroma = np.eye(12, dtype=np.float32)[[0, 4, 7]]
    spec = JobSpec(prompt="p", duration_s=1.5, seed=7, variations=2, top_k=10, top_p=0.5, temperature=0.9, cfg=2.0,
                   preview=True, key="k-1", chroma=chroma, prompt_audio=audio, prompt_sr=32000)
    got = parse_body(json.loads(json.dumps(build_body(spec))))
    assert (got.prompt, got.duration_s, got.seed, got.variations, got.top_k, got.top_p, got.temperature, got.cfg,
            got.preview, got.key, got.prompt_sr) == ("p", 1.5, 7, 2, 10, 0.5, 0.9, 2.0, True, "k-1", 32000)
    assert np.array_equal(got.chroma, chroma) and np.array_equal(got.prompt_audio, audio)


def test_flac_prompt_audio_is_taken():
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros((800, 1), dtype=np.float32), 44100, format="FLAC")
    spec = parse_body({"duration_s": 1, "seed": 1, "prompt_audio": {"data": base64.b64encode(buf.getvalue()).decode()}})
    assert spec.prompt_sr == 44100 and spec.prompt_audio.shape == (1, 800)


@pytest.mark.parametrize("body, needle", [
    ([], "JSON object"),
    ({"seed": 1}, "duration_s and seed are required"),
    ({"duration_s": 1, "seed": 1, "colour": "red"}, "unknown key 'colour'"),
    ({"duration_s": 0, "seed": 1}, "duration_s must be in"),
    ({"duration_s": 301, "seed": 1}, "duration_s must be in"),
    ({"duration_s": "1", "seed": 1}, "duration_s must be a number"),
    ({"duration_s": 1, "seed": True}, "seed must be a number"),
    ({"duration_s": 1, "seed": 1.5}, "seed must be a number"),
    ({"duration_s": 1, "seed": 1, "variations": 9}, "variations must be in"),
    ({"duration_s": 1, "seed": 1, "sampling": {"top_q": 1}}, "sampling.top_q"),
    ({"duration_s": 1, "seed": 1, "sampling": {"temperature": float("inf")}}, "temperature must be in"),
    ({"duration_s": 1, "seed": 1, "preview": 1}, "preview must be true or false"),
    ({"duration_s": 1, "seed": 1, "key": "a b"}, "key must be"),
    ({"duration_s": 1, "seed": 1, "prompt": "x" * 2001}, "prompt must be text"),
    ({"duration_s": 1, "seed": 1, "prompt_audio": {"data": base64.b64encode(b"RIFFnope").decode()}},
     "not a readable audio file"),
    ({"duration_s": 1, "seed": 1, "chroma": encode_array(np.zeros((3, 11), np.float32))}, "chroma must have shape"),
])
def test_bad_bodies_are_one_line_errors(body, needle):
    with pytest.raises(WireError, match=needle) as exc:
        parse_body(body)
    assert exc.value.code == "bad_request" and "\n" not in exc.value.message


def test_sse_reader():
    stream = io.BytesIO(b": ping\r\n\r\nevent: progress\r\ndata: {\"fraction\": 0.5}\r\n\r\n"
                        b"data: a\ndata: b\n\nevent: result\ndata:x\n\nevent: cut\ndata: never ended")
    assert list(iter_events(stream)) == [("progress", '{"fraction": 0.5}'), ("message", "a\nb"), ("result", "x")]


def test_engine_urls():
    assert parse_engine_urls("http://a:1, https://b/musicgen/v1 ,") == ["http://a:1", "https://b/musicgen/v1"]
    ep = Endpoint.parse("https://b/musicgen/v1")
    assert (ep.scheme, ep.host, ep.port, ep.base) == ("https", "b", 443, "/musicgen")
    ep = Endpoint.parse("127.0.0.2:9310")
    assert (ep.scheme, ep.host, ep.port, ep.base) == ("http", "127.0.0.2", 9310, "")
    for bad in ("ftp://x", "http://", "http://h:99999", ""):
        with pytest.raises(ValueError):
            parse_engine_urls(bad)


def _listen(job):
    events, done = [], threading.Event()

    def send(event, data):
        events.append((event, data))
        if event in ("result", "error", "cancelled"):
            done.set()

    for item in job.attach(send):
        send(*item)
    return events, done


def test_runner_queue_busy_and_late_listener(engine):
    """Queue size 1: a second waiting job is refused busy; the same key finds the same job; a
    listener attaching after the end replays the result."""
    from bridge.remote.jobs import JobRunner

    runner = JobRunner(engine, queue_size=1)
    try:
        first = runner.submit(JobSpec(prompt="a", duration_s=60.0, seed=1, key="one"))
        events, done = _listen(first)
        second = runner.submit(JobSpec(prompt="b", duration_s=0.2, seed=2, key="two"))
        while runner.running is None:
            threading.Event().wait(0.01)
        with pytest.raises(WireError) as exc:
            runner.submit(JobSpec(prompt="c", duration_s=0.2, seed=3))
        assert exc.value.code == "busy" and 1.0 <= runner.retry_after_s() <= 30.0
        assert runner.submit(JobSpec(prompt="ignored", duration_s=9.0, seed=9, key="two")) is second
        assert runner.cancel("one") == "running"
        assert done.wait(60) and events[-1][0] == "cancelled"
        _, second_done = _listen(second)
        assert second_done.wait(60)
        late, late_done = _listen(second)
        assert late_done.is_set() and late[-1][0] == "result"
        result = json.loads(late[-1][1])
        audio = decode_array(result, ndim=3, name="result")
        assert audio.shape == (1, 1, round(0.2 * 32000)) and result["seed"] == 2
        assert runner.cancel("nope") is None
    finally:
        runner.stop()


@pytest.mark.parametrize("value, needle", [
    (5, "engine must be a URL or a list"),
    (["http://a:1", 2], "engine must be a URL or a list"),
    ("gopher://a", "engine URL 'gopher://a'"),
    ([], "at least one URL"),
])
def test_bad_engine_config_values(value, needle):
    from bridge.config import ConfigError, build_serve_config

    with pytest.raises(ConfigError, match=needle):
        build_serve_config({}, {"engine": value})


def test_engine_config_and_flags():
    from bridge.config import build_serve_config

    cfg = build_serve_config({"engine": "http://a:1,http://b:2", "engine_token": "t"},
                             {"engine": ["http://c:3"], "engine_ca": "~/ca.pem"})
    assert cfg.engine == ["http://a:1", "http://b:2"] and cfg.engine_token == "t"
    assert str(cfg.engine_ca).endswith("ca.pem") and "~" not in str(cfg.engine_ca)
