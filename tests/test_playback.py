"""The playback-buffer model shared by the simulator and the load generator (fake clock)."""

from __future__ import annotations

import pytest

from voicectl.sim.playback import PlaybackBuffer

F = b"\x7f" * 160  # one 20 ms frame


def test_mark_echoes_only_after_the_audio_before_it_has_played() -> None:
    buf = PlaybackBuffer()
    for _ in range(5):  # 100 ms of audio, all sent at t=0 (ahead of playback)
        buf.audio(F, 0.0)
    buf.mark("turn-1", 0.0)
    frames, marks = buf.advance(0.0)
    assert len(frames) == 1 and marks == []
    frames, marks = buf.advance(0.099)
    assert len(frames) == 4 and marks == []  # the last frame is still playing
    assert buf.playing_since(0.099) == 0.0
    _, marks = buf.advance(0.100)
    assert marks == ["turn-1"]
    assert buf.playing_since(0.100) is None


def test_mark_after_played_audio_is_due_at_once() -> None:
    buf = PlaybackBuffer()
    buf.audio(F, 0.0)
    buf.advance(0.5)
    buf.mark("turn-0", 0.5)
    assert buf.advance(0.5) == ([], ["turn-0"])


def test_clear_drops_unplayed_audio_and_echoes_pending_marks_at_once() -> None:
    buf = PlaybackBuffer()
    for _ in range(50):
        buf.audio(F, 0.0)
    buf.mark("turn-1", 0.0)
    buf.advance(0.1)
    assert buf.clear(0.1) == ["turn-1"]
    assert buf.advance(10.0) == ([], [])  # nothing left to play or echo
    assert buf.playing_since(0.1) is None
    buf.audio(F, 0.2)  # the next reply starts fresh: no gap, no lead
    assert buf.gaps == [] and buf.leads_ms[-1] == 0.0


def test_frames_play_back_to_back_in_arrival_order() -> None:
    buf = PlaybackBuffer()
    buf.audio(b"a" * 160, 0.0)
    buf.audio(b"b" * 160, 0.0)
    frames, _ = buf.advance(1.0)
    assert frames == [(0.0, b"a" * 160), (0.02, b"b" * 160)]


def test_a_frame_arriving_after_the_buffer_ran_dry_mid_reply_is_a_gap() -> None:
    buf = PlaybackBuffer()
    buf.audio(F, 0.0)  # plays 0.00-0.02
    buf.audio(F, 0.01)  # plays 0.02-0.04 (lead 10 ms)
    buf.audio(F, 0.10)  # buffer dry since 0.04: 60 ms of silence inside the reply
    assert [g.ms for g in buf.gaps] == pytest.approx([60.0])
    assert buf.gaps[0].at == pytest.approx(0.04)
    assert buf.leads_ms[:2] == pytest.approx([0.0, 10.0])


def test_silence_between_replies_is_not_a_gap() -> None:
    buf = PlaybackBuffer()
    buf.audio(F, 0.0)
    buf.mark("turn-0", 0.0)  # the reply ends
    buf.audio(F, 3.0)  # the next reply, seconds later
    assert buf.gaps == []
    assert buf.frames_in == 2


def test_playing_since_follows_the_run_of_audio_and_next_mark_due() -> None:
    buf = PlaybackBuffer()
    assert buf.playing_since(0.0) is None and buf.next_mark_due() is None
    buf.audio(F, 1.0)
    buf.audio(F, 1.0)
    buf.mark("turn-2", 1.0)
    assert buf.next_mark_due() == pytest.approx(1.04)  # after both frames have played
    assert buf.playing_since(1.03) == 1.0
    assert buf.playing_since(1.05) is None
    buf.audio(F, 2.0)  # a later reply starts a new run
    assert buf.playing_since(2.01) == 2.0
