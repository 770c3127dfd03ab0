"""ui.model_queue: one FIFO worker per model, a bounded queue, embeddings shared once per image."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from ui import model_queue


def test_calls_run_one_at_a_time_in_arrival_order():
    worker = model_queue.ModelWorker("test-order", threads=1)
    order, running, overlap = [], [0], []

    def job(index):
        running[0] += 1
        overlap.append(running[0])
        time.sleep(0.01)
        order.append(index)
        running[0] -= 1
        return index * 2

    threads = []
    for index in range(8):
        thread = threading.Thread(target=lambda i=index: assert_equal(worker.call(job, i), i * 2))
        thread.start()
        threads.append(thread)
        time.sleep(0.002)  # arrival order
    for thread in threads:
        thread.join()
    assert order == list(range(8)) and max(overlap) == 1


def assert_equal(a, b):
    assert a == b


def test_decoder_calls_go_before_waiting_encoder_calls():
    worker = model_queue.ModelWorker("test-priority", threads=1)
    gate, order = threading.Event(), []
    first = threading.Thread(target=worker.call, args=(gate.wait,))
    first.start()
    time.sleep(0.05)
    calls = [threading.Thread(target=worker.call, args=(order.append, name), kwargs={"priority": priority})
             for name, priority in (("encode", model_queue.ENCODER_PRIORITY), ("click1", 0), ("click2", 0))]
    for thread in calls:
        thread.start()
        time.sleep(0.02)
    gate.set()
    for thread in [first, *calls]:
        thread.join()
    assert order == ["click1", "click2", "encode"]


def test_errors_reach_the_caller_and_a_full_queue_says_busy():
    worker = model_queue.ModelWorker("test-busy", threads=1, max_pending=2)
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0)
    gate = threading.Event()
    blockers = [threading.Thread(target=worker.call, args=(gate.wait,)) for _ in range(3)]
    for thread in blockers:
        thread.start()
        time.sleep(0.05)
    with pytest.raises(model_queue.ModelBusyError, match="busy"):
        worker.call(lambda: None)
    gate.set()
    for thread in blockers:
        thread.join()
    assert worker.call(lambda: "ok") == "ok"


def _embedding(value: float) -> model_queue.Embedding:
    features = torch.full((1, 256, 64, 64), value)
    return model_queue.Embedding(features, torch.zeros(1, 256, 64, 64), (64, 96), (683, 1024), 1.0)


def test_embedding_cache_computes_once_under_concurrency_and_stays_bounded():
    cache = model_queue.EmbeddingCache(max_bytes=3 * _embedding(0).nbytes)
    computed = []

    def compute():
        computed.append(1)
        time.sleep(0.05)
        return _embedding(1.0)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute(("m", "a"), compute)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1 and len(results) == 6
    assert len({id(embedding) for embedding, _ in results}) == 1
    for index in range(5):
        cache.get_or_compute(("m", f"other{index}"), lambda i=index: _embedding(float(i)))
    assert cache.nbytes <= cache.max_bytes
    assert cache.get_or_compute(("m", "a"), compute)[1] is False  # evicted (least recent): computed again
