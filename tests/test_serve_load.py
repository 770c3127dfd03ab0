"""A bounded load test on loopback (slow): 20 concurrent clients x 50 /predict/mask on the embedded model,
then 5 concurrent image sessions and 5 concurrent SAM 2 tracking sessions (start, click, propagate, stop),
each twice, so the server's memory after the second round shows whether stopped sessions leak.

Prints p50 / p95 latency, throughput and the server's resident memory; run with ``-s`` to see them:
``nice -n 5 python -m pytest -q -s -m slow tests/test_serve_load.py``. Numbers depend on the machine
and on what else runs on it (a background training run takes most of a 2-core CPU here).
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from sam_core.scenes import render_scene
from sam_core.serve.client import SamServiceClient, ServiceError
from sam_core.serve.local import LocalServer
from tests.serve_fixtures import model_args, tiny_weights

pytestmark = pytest.mark.slow

TOKEN = "load-test-token-" + "l" * 16
CLIENTS = 20
CALLS = 50
SESSIONS = 5
VIDEO_FRAMES = 6
TRACK_CLICKS = 6  # per tracking session and round


def student_image(index: int) -> bytes:
    """One desk scene per student (their own photo), 320 x 240 PNG."""
    image = render_scene("desk", 100 + index, size=320).image[:240]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def summary(latencies: list[float], wall_s: float) -> dict:
    ms = np.asarray(latencies) * 1000
    return {"calls": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "throughput_per_s": round(len(ms) / wall_s, 1)}


def run_clients(count: int, work) -> tuple[list[float], list[str], float]:
    start = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(work, range(count)))
    wall = time.perf_counter() - start
    return [t for r in results for t in r[0]], [e for r in results for e in r[1]], wall


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    args = ["--model", "nano", "--token", TOKEN, *model_args(*tiny_weights(tmp_path_factory))]
    with LocalServer(args, nice=5, startup_timeout_s=120) as running:
        yield running


def student_video(index: int) -> list[bytes]:
    """VIDEO_FRAMES frames 160 x 120 of a street whose camera pans, one street per student."""
    big = render_scene("street", 200 + index, size=320).image
    frames = []
    for t in range(VIDEO_FRAMES):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(big[60:180, 10 * t:10 * t + 160])).save(buffer, format="PNG")
        frames.append(buffer.getvalue())
    return frames


def test_twenty_clients_then_five_sessions_no_errors_no_growth(server):
    client = SamServiceClient(server.url, token=TOKEN, timeout=300)
    images = [student_image(i) for i in range(CLIENTS)]
    client.predict_mask(images[0], points=[[160, 120]])  # warm up
    rss_start = server.rss_bytes()
    rng = np.random.default_rng(0)
    clicks = rng.uniform([0, 0], [320, 240], size=(CLIENTS, CALLS, 2)).round(1)

    def upload_student(index: int) -> tuple[list[float], list[str]]:
        latencies, errors = [], []
        for call in range(CALLS):
            begin = time.perf_counter()
            try:
                result = client.predict_mask(images[index], points=[clicks[index, call].tolist()],
                                             multimask=call % 2 == 0)
                assert result.masks.shape[1:] == (240, 320)
            except (ServiceError, AssertionError) as error:
                errors.append(repr(error))
            latencies.append(time.perf_counter() - begin)
        return latencies, errors

    latencies, errors, wall = run_clients(CLIENTS, upload_student)
    rss_uploads = server.rss_bytes()
    uploads = summary(latencies, wall)

    def session_student(index: int) -> tuple[list[float], list[str]]:
        latencies, errors = [], []
        session = client.start_image(images[index])
        for call in range(CALLS):
            begin = time.perf_counter()
            try:
                client.predict_mask(session_id=session.session_id, points=[clicks[index, call].tolist()])
            except ServiceError as error:
                errors.append(repr(error))
            latencies.append(time.perf_counter() - begin)
        client.stop_image(session.session_id)
        return latencies, errors

    videos = [student_video(i) for i in range(SESSIONS)]

    def tracking_student(index: int) -> tuple[list[float], list[str]]:
        """One tracking session: start, then TRACK_CLICKS clicks each followed by a propagation over every
        frame, then stop. Latencies of the clicks and propagations (tagged), the session's wall time."""
        latencies, errors = [], []
        try:
            started = client.track_start(videos[index])
            sid = started["session_id"]
            for call in range(TRACK_CLICKS):
                begin = time.perf_counter()
                point = (clicks[index, call] / 2).tolist()  # the frames are 160 x 120
                client.track_prompt(sid, frame_idx=call % VIDEO_FRAMES, points=[point])
                latencies.append(("prompt", time.perf_counter() - begin))
                begin = time.perf_counter()
                tracked = client.track_propagate(sid, max_frames=-1, direction="both")
                latencies.append(("propagate", time.perf_counter() - begin))
                assert [r.frame_idx for r in tracked] == list(range(VIDEO_FRAMES))
            client.track_stop(sid)
        except (ServiceError, AssertionError) as error:
            errors.append(repr(error))
        return latencies, errors

    rounds, tracking_rounds = [], []
    for _ in range(2):  # twice: memory after the second round shows whether stopped sessions leak
        session_latencies, session_errors, session_wall = run_clients(SESSIONS, session_student)
        errors += session_errors
        rounds.append((summary(session_latencies, session_wall), server.rss_bytes()))
    for _ in range(2):
        track_latencies, track_errors, track_wall = run_clients(SESSIONS, tracking_student)
        errors += track_errors
        tracking_rounds.append(({kind: summary([t for k, t in track_latencies if k == kind], track_wall)
                                 for kind in ("prompt", "propagate")}, server.rss_bytes()))
    stats = client.request("GET", "/stats")[2].decode()

    mib = 2**20
    print(f"\n{CLIENTS} clients x {CALLS} uploads: {uploads}")
    for number, (numbers, rss) in enumerate(rounds, 1):
        print(f"{SESSIONS} image sessions x {CALLS}, round {number}: {numbers}, server RSS {rss / mib:.0f} MiB")
    for number, (numbers, rss) in enumerate(tracking_rounds, 1):
        print(f"{SESSIONS} tracking sessions ({VIDEO_FRAMES} frames, {TRACK_CLICKS} x click + propagate both ways), "
              f"round {number}: /track/prompt {numbers['prompt']}, /track/propagate {numbers['propagate']}, "
              f"server RSS {rss / mib:.0f} MiB")
    print(f"server RSS: after warm-up {rss_start / mib:.0f} MiB, after uploads {rss_uploads / mib:.0f} MiB")
    print(f"stats: {stats}")
    assert errors == []
    assert client.sessions() == []
    assert rounds[1][1] - rounds[0][1] < 32 * mib  # stopped sessions free their memory
    assert tracking_rounds[1][1] - tracking_rounds[0][1] < 32 * mib
    assert "Traceback" not in server.log()
