"""The server's memory upkeep (voicectl.memory): glibc's arena cap and periodic trim."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from voicectl import memory

glibc = pytest.mark.skipif(memory._LIBC is None, reason="needs glibc")


@glibc
def test_an_operators_malloc_arena_max_wins() -> None:
    code = "from voicectl import memory; print(memory.limit_arenas())"
    env_set = subprocess.run(
        [sys.executable, "-c", code],
        env={"MALLOC_ARENA_MAX": "4", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    unset = subprocess.run(
        [sys.executable, "-c", code], env={"PATH": ""}, capture_output=True, text=True, check=True
    )
    assert env_set.stdout.strip() == "False"  # glibc already applied the operator's value
    assert unset.stdout.strip() == "True"


@glibc
def test_freed_memory_goes_back_to_the_kernel_after_a_trim() -> None:
    # Many mid-sized blocks, every other one kept: the freed holes sit inside the heap,
    # below the top, where free() alone never returns them.
    code = """
import ctypes, ctypes.util, re
from voicectl import memory
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(-1, 1 << 20)  # M_TRIM_THRESHOLD high: no automatic trim at free()
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
blocks = []
for _ in range(4000):
    p = libc.malloc(64 * 1024)
    ctypes.memset(p, 1, 64 * 1024)
    blocks.append(p)
for p in blocks[:-1]:
    libc.free(p)
before = rss()
memory.trim()
print(before - rss())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 100_000  # kB: most of the ~250 MB freed is released


def test_the_trimmer_trims_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    threads: list[str] = []
    monkeypatch.setattr(memory, "_LIBC", object())
    monkeypatch.setattr(memory, "trim", lambda: threads.append(threading.current_thread().name))

    async def go() -> None:
        task = asyncio.create_task(memory.Trimmer(every_s=0.01).run())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if len(threads) >= 2:
                break
        task.cancel()

    asyncio.run(go())
    assert len(threads) >= 2
    assert all(name.startswith("voicectl-flows") for name in threads)


def test_a_server_freezes_its_start_up_heap_once_and_reports_full_collections(
    tmp_path: Path,
) -> None:
    # A fresh interpreter: the freeze is once per process. An object that exists before
    # the first server starts is start-up state (frozen: no collection walks it again);
    # one made later - as a call makes them - is not, not even by a second server's start,
    # and garbage made after start-up is still collected. /metrics reports it.
    code = f"""
import gc, re, weakref, httpx
from voicectl.config import Settings
from voicectl.sim.runner import InProcessServer

class Node: pass

def walked(obj):  # still in the collector's generations (frozen objects are not)
    return any(o is obj for o in gc.get_objects())

def metrics(base):
    text = httpx.get(base + "/metrics").text
    return dict(re.findall("^(voicectl_gc_[a-z_]+) ([0-9.e+-]+)$", text, re.M))

before = Node()
with InProcessServer(Settings(database={str(tmp_path / "a.db")!r}), simulation=False) as srv:
    m1 = metrics(srv.http_base)
    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle: only the collector frees it
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    m2 = metrics(srv.http_base)
later = Node()
with InProcessServer(Settings(database={str(tmp_path / "b.db")!r}), simulation=False) as srv:
    print(walked(before), walked(later), alive() is None, m1["voicectl_gc_frozen_objects"],
          float(m2["voicectl_gc_full_collections_total"])
          - float(m1["voicectl_gc_full_collections_total"]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    before, later, collected, frozen, full = out.stdout.split()
    assert before == "False"  # start-up state: frozen
    assert later == "True"  # made after the first start-up: the second server froze nothing
    assert collected == "True"  # a call's garbage is still collected
    assert int(frozen) > 10_000  # modules, tables, the app: tens of thousands of objects
    assert float(full) >= 1  # the explicit full collection was counted
