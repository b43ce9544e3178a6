"""Concurrent requests gathered into batches for the compiled search.

The search costs about the same for one sentence as for thirty-two (the per-step work
is a few small matmuls whatever the batch), so requests that arrive together are
decoded together. The first request of a batch waits at most ``window`` seconds for
others with the same search options; while a batch decodes, new requests queue up and
form the next one at once. The search runs in one worker thread (TensorFlow releases
the GIL), so the event loop keeps accepting and answering meanwhile.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nmt.decoding.translation import Translation

# (texts, beam, n_best, prefixes or None) -> one Translation per text.
TranslateFn = Callable[[list[str], int, int, list[str] | None], list[Translation]]


class Busy(Exception):
    """More sentences are queued than the server can answer in time; the client should
    retry in ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Job:
    texts: list[str]
    key: tuple[int, int]  # (beam, n_best): only jobs with equal keys share a batch
    future: asyncio.Future
    prefixes: list[str]  # one per text, "" for none


@dataclass
class Stats:
    """What the batcher has done so far; read by ``/health`` and the tests."""

    batches: int = 0
    requests: int = 0
    sentences: int = 0
    largest_batch: int = 0  # in sentences


class Batcher:
    """Gathers ``translate`` calls into batches and runs them in a worker thread.

    Args:
        translate: Decodes one batch: ``(texts, beam, n_best, prefixes)``, prefixes
            ``None`` when no text of the batch has one.
        max_batch: Sentences per batch at most; a single larger request runs alone.
        window: Seconds the first request of a batch waits for more.
        max_pending: Sentences waiting at most; past that ``translate`` raises ``Busy``.
        deadline: Seconds a request may wait for its answer (0: no limit). A request
            that, at the rate the last batches were decoded, would wait longer behind
            the sentences already pending is turned away at once with ``Busy``, rather
            than accepted only to time out.
    """

    def __init__(
        self,
        translate: TranslateFn,
        max_batch: int,
        window: float,
        max_pending: int,
        deadline: float = 0.0,
    ):
        self._translate = translate
        self.max_batch = max_batch
        self.window = window
        self.max_pending = max_pending
        self.deadline = deadline
        self.rate = 0.0  # sentences decoded a second, a moving average over batches
        self.stats = Stats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._waiting: list[_Job] = []  # taken off the queue but left for a later batch
        self._pending = 0
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-search")

    def start(self) -> None:
        """Starts gathering; call from the event loop that will submit requests."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="nmt-batcher")

    async def stop(self) -> None:
        """Stops gathering; requests still queued are cancelled."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for job in self._drain():
            job.future.cancel()
        self._executor.shutdown(wait=True)

    @property
    def alive(self) -> bool:
        """Whether the gathering task is running (it ends only when stopped or broken)."""
        return self._task is not None and not self._task.done()

    @property
    def pending(self) -> int:
        """Sentences accepted and not yet answered."""
        return self._pending

    async def translate(
        self, texts: list[str], beam: int, n_best: int, prefixes: list[str] | None = None
    ) -> list[Translation]:
        """Translates ``texts`` (continuing ``prefixes``, one per text, if given) in some
        batch; raises ``Busy`` when the queue is full."""
        self.check_room(len(texts))
        future = asyncio.get_running_loop().create_future()
        self._pending += len(texts)
        prefixes = list(prefixes) if prefixes is not None else [""] * len(texts)
        self._queue.put_nowait(_Job(list(texts), (beam, n_best), future, prefixes))
        try:
            return await future
        finally:
            self._pending -= len(texts)

    def check_room(self, count: int) -> None:
        """Raises ``Busy`` unless ``count`` more sentences fit in the queue and, at the
        rate of the last batches, would be answered within the deadline."""
        waiting = self._pending + count
        wait = waiting / self.rate if self.rate else 0.0
        retry = max(1, math.ceil(self._pending / self.rate)) if self.rate else 1
        if waiting > self.max_pending:
            raise Busy(f"{self._pending} sentences are waiting; retry in a moment", retry)
        # With nothing ahead it is decoded at once: admitted whatever the rate says, which
        # also lets the rate recover from a slow batch.
        if self.deadline and self._pending and wait > self.deadline:
            raise Busy(
                f"{self._pending} sentences are waiting, about {wait:.0f} s of work at "
                f"{self.rate:.0f} sentences/s; retry in {retry} s",
                retry,
            )

    def _drain(self) -> list[_Job]:
        jobs, self._waiting = self._waiting, []
        while self._queue is not None and not self._queue.empty():
            jobs.append(self._queue.get_nowait())
        return jobs

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            batch = [job for job in batch if not job.future.done()]  # timed out meanwhile
            if batch:
                await self._decode(batch)

    async def _gather(self) -> list[_Job]:
        """The oldest job, and the jobs with its key that arrive within the window."""
        first = self._waiting.pop(0) if self._waiting else await self._queue.get()
        batch, size = [first], len(first.texts)
        for job in list(self._waiting):
            if job.key == first.key and size + len(job.texts) <= self.max_batch:
                self._waiting.remove(job)
                batch.append(job)
                size += len(job.texts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while size < self.max_batch:
            if self._queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:  # not the builtin before 3.11
                    break
            else:
                job = self._queue.get_nowait()  # queued while the last batch decoded
            if job.key == first.key and size + len(job.texts) <= self.max_batch:
                batch.append(job)
                size += len(job.texts)
            else:
                self._waiting.append(job)
                if job.key == first.key:
                    break  # full: this job opens the next batch
        return batch

    async def _decode(self, batch: list[_Job]) -> None:
        texts = [text for job in batch for text in job.texts]
        # Requests with and without prefixes share a batch: "" continues nothing.
        prefixes = [prefix for job in batch for prefix in job.prefixes]
        prefixes = prefixes if any(prefixes) else None
        beam, n_best = batch[0].key
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            results = await loop.run_in_executor(
                self._executor, self._translate, texts, beam, n_best, prefixes
            )
        except Exception as exc:
            if len(batch) > 1:
                # One request's input may be what failed: retried one by one, the others
                # get their translations and only that one its error.
                for job in batch:
                    if not job.future.done():
                        await self._decode([job])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        rate = len(texts) / max(loop.time() - start, 1e-6)
        self.rate = rate if not self.rate else 0.7 * self.rate + 0.3 * rate
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.sentences += len(texts)
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        start = 0
        for job in batch:
            if not job.future.done():
                job.future.set_result(results[start : start + len(job.texts)])
            start += len(job.texts)
